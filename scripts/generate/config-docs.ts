/**
 * Writes docs/configuration.md from the function's environment contract (functions/core/config/environment.ts),
 * so the documented variables are the ones the function reads, with the rules it applies.
 * `--check` fails when the document is out of date (CI).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Group, Variable } from "../../functions/core/config/environment.js";
import { groups, variables } from "../../functions/core/config/environment.js";

export const configurationDocPath = fileURLToPath(new URL("../../docs/configuration.md", import.meta.url));

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function code(text: string): string {
  return `\`${text}\``;
}

function whenUnset(variable: Variable<unknown>): string {
  if (variable.unset !== undefined) return variable.unset;
  if (variable.default !== undefined) return code(variable.write(variable.default));
  return "—";
}

const cloudNames = { gcp: "Google stacks", aws: "AWS stacks" } as const;

function deployedText(variable: Variable<unknown>): string {
  if (variable.deployed === undefined) return "not set";
  return variable.deployedOn
    ? `${variable.deployed} (${cloudNames[variable.deployedOn]} only)`
    : variable.deployed;
}

function row(variable: Variable<unknown>): string {
  const name = `${code(variable.name)}${variable.secret ? " (secret)" : ""}`;
  const cells = [
    name,
    variable.required,
    whenUnset(variable),
    deployedText(variable),
    `${variable.doc} E.g. ${code(variable.example)}`,
  ];
  return `| ${cells.map(cell).join(" | ")} |`;
}

export function renderConfigurationDoc(): string {
  const sections = (Object.keys(groups) as Group[]).map((group) => {
    const rows = variables.filter((variable) => variable.group === group).map(row);
    return [
      `## ${groups[group]}`,
      "",
      "| Variable | Required | When unset | Deployed by the stack as | What it is |",
      "| --- | --- | --- | --- | --- |",
      ...rows,
    ].join("\n");
  });
  return `<!-- Generated from functions/core/config/environment.ts by \`npm run docs:generate\`. Do not edit: edit its entries in functions/core/config/variables/. -->

# The function's configuration

Every environment variable the function reads, from the one table in
[\`functions/core/config/environment.ts\`](../functions/core/config/environment.ts) (its entries by section in
[\`functions/core/config/variables/\`](../functions/core/config/variables/)): the function reads each with that
table's parser ([\`functions/core/config/function-config.ts\`](../functions/core/config/function-config.ts)), and the Pulumi program
([\`infra/gcp/function.ts\`](../infra/gcp/function.ts)), \`npm start\`
([\`scripts/local/local-stack.ts\`](../scripts/local/local-stack.ts)), the benchmarks and the tests write
it with that table's writers. The Pulumi program checks the stack's values with the same parsers, so
\`pulumi up\` refuses a value the deployed function would refuse.

The function reads its environment once, at cold start. Values are trimmed, and an empty variable
counts as unset. With any problem the function refuses every request (fail closed) and logs one line
per problem, naming the variable; it never quotes a secret's value.

${sections.join("\n\n")}
`;
}

function main(): void {
  const rendered = renderConfigurationDoc();
  if (process.argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(configurationDocPath, "utf8");
    } catch {
      // missing counts as out of date
    }
    if (current !== rendered) {
      console.error("docs/configuration.md is out of date: run `npm run docs:generate`.");
      process.exit(1);
    }
    console.log("docs/configuration.md is up to date.");
    return;
  }
  writeFileSync(configurationDocPath, rendered);
  console.log("wrote docs/configuration.md");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
