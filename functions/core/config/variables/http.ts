/** The http tasks' variable of the function's table (../environment.ts): the stack's targets. */

import type { HttpTargets } from "../http-targets.js";
import { parseHttpTargets } from "../http-targets.js";
import { define } from "./variable.js";

export const httpVariables = {
  HTTP_TARGETS: define<HttpTargets>({
    group: "http",
    doc: 'The services `http` tasks call, JSON `{"<target>": {"url", "audience", "service", "function", "internal"}}`: `https` base URLs without credentials; a private address only with `"internal": true`, plain `http` only to loopback (the local stack); never link-local (the metadata server). The only place a call\'s address comes from. On AWS only an API Gateway stage or a Lambda function URL (`function` names its Lambda function), signed with SigV4 as the function\'s role.',
    secret: false,
    required: "no",
    default: {},
    unset: "no targets: every `http` task fails naming its missing target",
    deployed: "`scheduled-jobs:httpTargets` (absent when none)",
    example:
      '{"app-backend":{"url":"https://app-backend-123456789012.europe-west1.run.app","service":"app-backend"}}',
    parse(text, problems) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        problems.push("HTTP_TARGETS is not valid JSON");
        return undefined;
      }
      const targetProblems: string[] = [];
      const targets = parseHttpTargets(parsed, targetProblems, { local: true });
      problems.push(...targetProblems.map((problem) => `HTTP_TARGETS: ${problem}`));
      return targets;
    },
    write: (targets) => JSON.stringify(targets),
    omit: (targets) => Object.keys(targets).length === 0,
  }),
};
