/**
 * The targets an `http` task may call: the stack's `scheduled-jobs:httpTargets`, which reach the
 * function as HTTP_TARGETS. One rule for both readers: infra checks the stack's config with it
 * (a stack that deploys is one the function accepts) and the function reads its environment with
 * it. A target's address comes from here only, never from a request, so a caller cannot point the
 * function's identity at a host of its choice.
 *
 * Dependency-free (loaded at every cold start with the environment table); no DNS here: the call
 * checks the address a name resolves to (functions/core/run/http-call.ts) with `isPrivateAddress`.
 */
import { quoted } from "../text.js";

export interface HttpTarget {
  /** The base URL a task's path is appended to: https, no credentials, no query or fragment. */
  readonly url: string;
  /** The audience of the ID token minted for it; its URL's origin when absent (Cloud Run's rule). */
  readonly audience: string;
  /** The Cloud Run service (`projects/<p>/locations/<r>/services/<s>` or `<s>`) granted the invoker role to. */
  readonly service?: string;
  /**
   * On AWS, the Lambda function behind a function URL target (its name, or its ARN with an alias),
   * granted to the function's role: the URL itself does not name its function.
   */
  readonly function?: string;
  /**
   * The stack says this target lives at a private address (a VPC, the local stack's loopback): only
   * then may its URL name or resolve to one. Link-local addresses (the metadata server) stay refused.
   */
  readonly internal: boolean;
}

export type HttpTargets = Readonly<Record<string, HttpTarget>>;

const targetKeyPattern = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const servicePattern =
  /^(projects\/[^/\s]+\/locations\/[a-z0-9-]+\/services\/)?[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/;
const loopbackNames = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);
/** A Lambda function's name, or its ARN with an optional version or alias (Lambda's FunctionName pattern). */
const lambdaFunctionPattern =
  /^(arn:aws(-[a-z]+)*:lambda:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$/;
const fields = new Set(["url", "audience", "service", "function", "internal"]);

function ipv4Parts(host: string): number[] | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!match) return undefined;
  const parts = match.slice(1).map(Number);
  return parts.every((part) => part <= 255) ? parts : undefined;
}

/**
 * Link-local: 169.254.0.0/16 (the metadata server, 169.254.169.254) and fe80::/10. Never a target,
 * even an internal one: the metadata server hands out the function's own tokens.
 */
export function isLinkLocalAddress(address: string): boolean {
  const host = address.replace(/^\[|\]$/g, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  const v4 = ipv4Parts(mapped?.[1] ?? host);
  if (v4) return v4[0] === 169 && v4[1] === 254;
  return /^fe[89ab][0-9a-f]?:/.test(host);
}

/**
 * An address that is not on the public internet: loopback, RFC 1918, carrier-grade NAT, "this
 * network", link-local, IPv6 unique-local and loopback/unspecified, and IPv4-mapped forms of them.
 * A name (not an address) is not judged here: its resolved address is, at call time.
 */
export function isPrivateAddress(address: string): boolean {
  const host = address.replace(/^\[|\]$/g, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  const v4 = ipv4Parts(mapped?.[1] ?? host);
  if (v4) {
    const [a = 0, b = 0] = v4;
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  if (!host.includes(":")) return false;
  return host === "::" || host === "::1" || /^f[cd][0-9a-f]{0,2}:/.test(host) || isLinkLocalAddress(host);
}

interface TargetRules {
  /** The local stack: plain http to a loopback address is allowed (nothing leaves the machine). */
  readonly local?: boolean;
}

/** Why this target's URL may not be called, or undefined when it may. */
function urlProblem(key: string, text: string, internal: boolean, rules: TargetRules): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `httpTargets.${key}.url ${quoted(text)} is not a URL`;
  }
  const loopbackHttp = url.protocol === "http:" && rules.local === true && loopbackNames.has(url.hostname);
  if (url.protocol !== "https:" && !loopbackHttp) {
    return `httpTargets.${key}.url ${quoted(text)} must use https (plain http only to loopback in the local stack)`;
  }
  if (url.username || url.password) {
    return `httpTargets.${key}.url must not hold credentials: the call carries the function's own token`;
  }
  if (url.search || url.hash) return `httpTargets.${key}.url must not have a query or fragment`;
  if (isLinkLocalAddress(url.hostname)) {
    return `httpTargets.${key}.url ${quoted(text)} is a link-local address (the metadata server's range): never a target`;
  }
  const privateHost = isPrivateAddress(url.hostname) || url.hostname === "localhost";
  if (privateHost && !internal) {
    return `httpTargets.${key}.url ${quoted(text)} is a private address: mark the target "internal: true" if the stack means it`;
  }
  return undefined;
}

function targetOf(
  key: string,
  value: unknown,
  rules: TargetRules,
  problems: string[],
): HttpTarget | undefined {
  if (!targetKeyPattern.test(key)) {
    problems.push(`httpTargets key ${quoted(key)} is not kebab-case`);
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`httpTargets.${key} must be an object with "url"`);
    return undefined;
  }
  const entry = value as Record<string, unknown>;
  const before = problems.length;
  for (const field of Object.keys(entry)) {
    if (!fields.has(field))
      problems.push(`httpTargets.${key}.${field} is not a target setting (${[...fields].join(", ")})`);
  }
  const { url, audience, service, function: lambdaFunction, internal = false } = entry;
  if (typeof internal !== "boolean") problems.push(`httpTargets.${key}.internal must be true or false`);
  if (typeof url !== "string") problems.push(`httpTargets.${key}.url is missing: the target's base URL`);
  else {
    const problem = urlProblem(key, url, internal === true, rules);
    if (problem) problems.push(problem);
  }
  if (audience !== undefined && (typeof audience !== "string" || audience === "" || /\s/.test(audience))) {
    problems.push(`httpTargets.${key}.audience must be a non-empty string without spaces`);
  }
  if (service !== undefined && (typeof service !== "string" || !servicePattern.test(service))) {
    problems.push(`httpTargets.${key}.service ${quoted(service)} is not a Cloud Run service name`);
  }
  if (
    lambdaFunction !== undefined &&
    (typeof lambdaFunction !== "string" || !lambdaFunctionPattern.test(lambdaFunction))
  ) {
    problems.push(
      `httpTargets.${key}.function ${quoted(lambdaFunction)} is not a Lambda function's name or ARN`,
    );
  }
  if (problems.length > before || typeof url !== "string") return undefined;
  return {
    url: url.replace(/\/+$/, ""),
    audience: typeof audience === "string" ? audience : new URL(url).origin,
    ...(typeof service === "string" ? { service } : {}),
    ...(typeof lambdaFunction === "string" ? { function: lambdaFunction } : {}),
    internal: internal === true,
  };
}

/**
 * The targets in `value` (the stack's `httpTargets` object, or HTTP_TARGETS parsed), each checked;
 * every problem names its key (`httpTargets.<key>.<field>`).
 */
export function parseHttpTargets(
  value: unknown,
  problems: string[],
  rules: TargetRules = {},
): HttpTargets | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`httpTargets must be an object of targets by key: {"app-backend": {"url": "https://..."}}`);
    return undefined;
  }
  const before = problems.length;
  const targets: Record<string, HttpTarget> = {};
  for (const [key, entry] of Object.entries(value)) {
    const target = targetOf(key, entry, rules, problems);
    if (target) targets[key] = target;
  }
  return problems.length > before ? undefined : targets;
}
