/**
 * What the Lambda's http tasks need of AWS. The function signs each call with SigV4 as its role
 * (functions/aws/sigv4.ts), so a target must be one that checks IAM, and the role must be allowed
 * to call it, that target only:
 * - an API Gateway stage (`<api-id>.execute-api.<region>.amazonaws.com/<stage>`): `execute-api:Invoke`
 *   on `arn:<partition>:execute-api:<region>:<account>:<api-id>/<stage>/POST/<path>`, one ARN per
 *   path the catalog's tasks call on it, nothing else of the API
 *   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-iam-policy-examples-for-api-execution.html).
 *   The URL's first path segment is the stage, as a REST API's or an HTTP API's named stage puts
 *   it; a URL without one is an HTTP API's `$default` stage.
 * - a Lambda function URL with AWS_IAM auth (`<url-id>.lambda-url.<region>.on.aws`):
 *   `lambda:InvokeFunctionUrl` (only for AWS_IAM auth, the condition `lambda:FunctionUrlAuthType`)
 *   and `lambda:InvokeFunction`, which function URLs made since October 2025 require too
 *   (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html), on the function the target's
 *   `function` names: the URL does not name it.
 * The grant is the role's own (an identity-based policy), which is enough for an API or a function
 * in the stack's account; one in another account must also allow the role in its resource policy.
 * Every other target is refused at `pulumi up`, naming its key, by the rule the function applies
 * at run time (functions/aws/sigv4-scope.ts).
 *
 * Egress: the function runs in the stack's private subnets, so its calls leave through their NAT
 * gateway to the target's public endpoint (as SendGrid's do); a private API Gateway API is reached
 * through an `execute-api` interface VPC endpoint in the VPC instead (docs/aws.md, "HTTP tasks").
 */
import type { HttpTargets } from "../../functions/core/config/http-targets.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { notBehindIam, signingScopeOf } from "../../functions/aws/sigv4-scope.js";
import type { PolicyStatement } from "./iam.js";

/** Each target an AWS stack cannot call, with the key and the cause; empty when all can be. */
export function awsTargetProblems(targets: HttpTargets): string[] {
  const problems: string[] = [];
  for (const [key, target] of Object.entries(targets)) {
    const where = `scheduled-jobs:httpTargets.${key}`;
    const url = new URL(target.url);
    const scope = signingScopeOf(url);
    if (!scope) problems.push(`${where}.url: ${notBehindIam(url.hostname)}`);
    else if (scope.service === "lambda" && target.function === undefined) {
      problems.push(
        `${where}.function is required for a Lambda function URL: the URL does not name its function, and the role's lambda:InvokeFunctionUrl grant must (its name, or its ARN)`,
      );
    } else if (scope.service === "execute-api" && target.function !== undefined) {
      problems.push(
        `${where}.function names a Lambda function URL's function; ${url.hostname} is an API Gateway stage`,
      );
    }
    if (target.service !== undefined) {
      problems.push(
        `${where}.service is a Cloud Run service (Google's invoker grant); on AWS the grant follows the URL (an API Gateway stage) or .function (a function URL)`,
      );
    }
  }
  return problems;
}

interface Owner {
  /** `aws`, `aws-cn`, ...: the stack's own partition. */
  readonly partition: string;
  /** The stack's account, the one a target named without an account is taken to be in. */
  readonly account: string;
}

/** An IAM statement id: letters and digits only. */
const sidOf = (prefix: string, key: string): string =>
  prefix + key.replace(/(^|-)([a-z0-9])/g, (_, __, char: string) => char.toUpperCase());

/** `<api-id>/<stage>/POST/<path>` for each path, the stage and base path read from the target's URL. */
function executeApiResources(
  url: URL,
  apiId: string,
  region: string,
  owner: Owner,
  paths: string[],
): string[] {
  const [stage = "$default", ...base] = url.pathname.split("/").filter(Boolean);
  return paths.map((path) => {
    const resourcePath = [...base, ...path.split("/").filter(Boolean)].join("/");
    return `arn:${owner.partition}:execute-api:${region}:${owner.account}:${apiId}/${stage}/POST/${resourcePath}`;
  });
}

/**
 * The role's statements for the targets the jobs call, each on that target alone; a target no
 * task calls gets none. Assumes `awsTargetProblems` found nothing.
 */
export function httpTargetStatements(
  targets: HttpTargets,
  jobs: readonly Job[],
  owner: Owner,
): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  for (const [key, target] of Object.entries(targets)) {
    const paths = [
      ...new Set(
        jobs.flatMap((job) => (job.kind === "http" && job.http?.target === key ? [job.http.path] : [])),
      ),
    ].sort();
    const url = new URL(target.url);
    const scope = signingScopeOf(url);
    if (paths.length === 0 || !scope?.id) continue;
    if (scope.service === "execute-api") {
      statements.push({
        Sid: sidOf("InvokeApi", key),
        Effect: "Allow",
        Action: "execute-api:Invoke",
        Resource: executeApiResources(url, scope.id, scope.region, owner, paths),
      });
      continue;
    }
    const fn = target.function ?? "";
    const functionArn = fn.startsWith("arn:")
      ? fn
      : `arn:${owner.partition}:lambda:${scope.region}:${owner.account}:function:${fn}`;
    statements.push(
      {
        Sid: sidOf("InvokeFunctionUrl", key),
        Effect: "Allow",
        Action: "lambda:InvokeFunctionUrl",
        Resource: functionArn,
        Condition: { StringEquals: { "lambda:FunctionUrlAuthType": "AWS_IAM" } },
      },
      {
        Sid: sidOf("InvokeFunction", key),
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: functionArn,
      },
    );
  }
  return statements;
}
