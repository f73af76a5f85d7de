/**
 * The house's import directions, checked over the sources: the platform-free core imports no
 * adapter and not the email tasks; the email tasks import only the core; an adapter (Google's HTTP
 * function, AWS's Lambda) imports the core and the email tasks, never another adapter; nothing in
 * functions/ imports scripts/, infra/ or bench/; no production code imports test/. Every import
 * form counts: static, `export ... from`, `import type` and dynamic `import()`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The part a file belongs to, by its folder: the first rule that matches names it. */
const parts: readonly (readonly [part: string, prefix: string])[] = [
  ["core", "functions/core/"],
  ["email", "functions/email/"],
  ["gcp", "functions/gcp/"],
  ["aws", "functions/aws/"],
  ["functions", "functions/"],
  ["infra-entry", "infra/index.ts"],
  ["infra-gcp", "infra/gcp/"],
  ["infra-aws", "infra/aws/"],
  ["infra", "infra/"],
  ["scripts", "scripts/"],
  ["bench", "bench/"],
  ["test", "test/"],
];

/** What each part may import (besides itself and packages). */
const allowed: Readonly<Record<string, readonly string[]>> = {
  core: [],
  email: ["core"],
  gcp: ["core", "email"],
  aws: ["core", "email"],
  functions: ["core", "email", "gcp", "aws"],
  "infra-entry": ["infra", "infra-gcp", "infra-aws", "core", "email", "gcp", "aws", "functions"],
  infra: ["core", "email", "gcp", "aws", "functions"],
  "infra-gcp": ["infra", "core", "email", "gcp", "functions"],
  "infra-aws": ["infra", "core", "email", "aws", "functions"],
  scripts: ["core", "email", "gcp", "aws", "functions", "infra", "infra-entry", "infra-gcp", "infra-aws"],
  bench: ["core", "email", "gcp", "aws", "functions", "scripts"],
  test: parts.map(([part]) => part),
};

export function partOf(path: string): string | undefined {
  return parts.find(([, prefix]) => path.startsWith(prefix))?.[0];
}

function sources(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']+)\1/g;

/** Every relative import of a file, as a path from the repository's root. */
export function importsOf(path: string, text: string): string[] {
  return [...text.matchAll(specifier)].map((match) =>
    relative(ROOT, resolve(ROOT, dirname(path), match[2]!)).replace(/\.js$/, ".ts"),
  );
}

/** The imports of `path` that cross into a part it may not import. */
export function wrongArrows(path: string, text: string): string[] {
  const from = partOf(path);
  if (!from) return [];
  return importsOf(path, text).filter((target) => {
    const to = partOf(target);
    return to !== undefined && to !== from && !allowed[from]!.includes(to);
  });
}

describe("the house's import directions", () => {
  const files = ["functions", "infra", "scripts", "bench", "test"].flatMap(sources);

  it("when every source is read, then no import runs against the house's directions", () => {
    expect(files.length).toBeGreaterThan(100);
    const wrong = files.flatMap((path) =>
      wrongArrows(path, readFileSync(join(ROOT, path), "utf8")).map((target) => `${path} -> ${target}`),
    );
    expect(wrong).toEqual([]);
  });

  it("when the core imports an adapter, then the check names the arrow", () => {
    const text = `import { toAnswer } from "../../gcp/answer.js";\nconst m = await import("../../email/runtime.js");`;
    expect(wrongArrows("functions/core/run/runner.ts", text)).toEqual([
      "functions/gcp/answer.ts",
      "functions/email/runtime.ts",
    ]);
  });

  it("when an adapter imports another adapter, then the check names the arrow", () => {
    expect(wrongArrows("functions/aws/index.ts", `import type { X } from "../gcp/router.js";`)).toEqual([
      "functions/gcp/router.ts",
    ]);
    expect(wrongArrows("infra/aws/stack.ts", `export { y } from "../gcp/iam.js";`)).toEqual([
      "infra/gcp/iam.ts",
    ]);
  });

  it("when functions/ imports scripts/ or infra/, or production code imports test/, then the check names it", () => {
    expect(wrongArrows("functions/gcp/app.ts", `import { a } from "../../scripts/local/x509.js";`)).toEqual([
      "scripts/local/x509.ts",
    ]);
    expect(wrongArrows("functions/core/catalog.ts", `import { b } from "../../infra/config.js";`)).toEqual([
      "infra/config.ts",
    ]);
    expect(wrongArrows("bench/vendor-reports.ts", `import { c } from "../test/helpers/email.js";`)).toEqual([
      "test/helpers/email.ts",
    ]);
    expect(wrongArrows("scripts/start.ts", `import { d } from "../test/helpers/database.js";`)).toEqual([
      "test/helpers/database.ts",
    ]);
  });

  it("when a part imports within itself or downwards, then the check is silent", () => {
    expect(
      wrongArrows("functions/gcp/router.ts", `import { runTask } from "../core/run/runner.js";`),
    ).toEqual([]);
    expect(
      wrongArrows("functions/email/drain.ts", `import type { T } from "../core/run/task-contract.js";`),
    ).toEqual([]);
    expect(wrongArrows("test/layout.test.ts", `import { x } from "../functions/gcp/router.js";`)).toEqual([]);
  });
});
