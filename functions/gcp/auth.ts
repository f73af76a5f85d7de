/**
 * Authentication of the function's callers: the OIDC ID token Cloud Scheduler sends in
 * `Authorization: Bearer`, checked in the function itself as defence in depth behind Cloud Run's IAM.
 *
 * Only `node:crypto`: a JWT or Google auth library would cost cold-start time for what is one RS256
 * verification and a handful of claim checks.
 */
import { createPublicKey, verify as verifySignature } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";
import type { AuthConfig, AuthMode } from "../core/config/auth-config.js";
import { defaultClockSkewSeconds } from "../core/config/auth-config.js";
import { ScheduledTaskError } from "../core/errors.js";
import { asciiLowerCase, quoted } from "../core/text.js";
import { gcloudUserAudience, googleIssuers, signatureRemovedMarker } from "./google-identities.js";
import type { Logger } from "../core/log.js";
import { silentLogger } from "../core/log.js";

/** The authenticated caller. */
export interface Caller {
  email: string;
  subject: string;
  /** Listed in OPERATOR_EMAILS: may act from the dashboard. */
  operator: boolean;
}

export interface Authenticator {
  /**
   * Checks an `Authorization` header value and returns the caller, or throws a `ScheduledTaskError`:
   * `unauthenticated` (401), `forbidden` (403) or `unavailable` (503, certificates unreachable).
   */
  authenticate(authorization: string | undefined): Promise<Caller>;
}

export interface AuthDeps {
  fetch?: typeof fetch;
  /** Milliseconds since the epoch. */
  now?: () => number;
  log?: Logger;
}

/** Longer headers are refused before any parsing; Google ID tokens are about 1 KB. */
const maxTokenLength = 8192;
/** Google ID tokens live one hour; google-auth-library refuses lifetimes beyond a day, and so do we. */
const maxTokenLifetimeSeconds = 86_400;

/** Certificates are kept for the response's max-age, but never less than this (no refetch storms). */
const minCacheSeconds = 60;
/** When the response gives no max-age. */
const defaultCacheSeconds = 300;
const maxCacheSeconds = 86_400;
/** A token naming a kid we do not hold triggers at most one refetch per this interval. */
const unknownKidRefetchSeconds = 60;
/** After a failed fetch, requests fail fast for this long instead of each trying again. */
const fetchFailureBackoffSeconds = 5;
const fetchTimeoutMs = 5000;

const bearerPattern = /^Bearer +(\S+) *$/i;
const tokenPattern = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/;

function unauthenticated(message: string): ScheduledTaskError {
  return new ScheduledTaskError("unauthenticated", message);
}

function forbidden(message: string): ScheduledTaskError {
  return new ScheduledTaskError("forbidden", message);
}

function withoutTrailingSlashes(value: string): string {
  return value.replace(/\/+$/, "");
}

/**
 * Decodes base64url strictly: Node's decoder skips characters it does not know and ignores the unused
 * bits of the last character, so several spellings would decode to one signature. Only the canonical
 * spelling is accepted.
 */
function decodeBase64Url(part: string): Buffer | undefined {
  const bytes = Buffer.from(part, "base64url");
  return bytes.toString("base64url") === part ? bytes : undefined;
}

function decodeJsonObject(part: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(part);
  if (!bytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

// ---------------------------------------------------------------------------------------------
// Certificates

interface CertificateSet {
  keys: ReadonlyMap<string, KeyObject>;
  fetchedAt: number;
  expiresAt: number;
}

/** Parses a `Cache-Control` max-age (less the `Age` a cache in between already spent). */
export function cacheSecondsOf(cacheControl: string | null, age: string | null): number {
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl ?? "");
  if (!match) return defaultCacheSeconds;
  const spent = Number.parseInt(age ?? "0", 10);
  const seconds = Number(match[1]) - (Number.isFinite(spent) && spent > 0 ? spent : 0);
  return Math.min(maxCacheSeconds, Math.max(minCacheSeconds, seconds));
}

/** An RSA public key fit to verify RS256 signatures, or why not. */
function rsaKeyOf(key: KeyObject): KeyObject | string {
  if (key.asymmetricKeyType !== "rsa") return `is a ${key.asymmetricKeyType ?? "unknown"} key, not RSA`;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) return `is a ${bits}-bit RSA key (at least 2048 bits are required)`;
  return key;
}

/**
 * Reads either Google's PEM format (`{"<kid>": "-----BEGIN CERTIFICATE-----..."}`) or a JWK set
 * (`{"keys": [{"kid", "kty": "RSA", "n", "e"}]}`), keeping the usable RSA keys and saying why the
 * others were skipped.
 */
function parseCertificates(body: unknown): { keys: Map<string, KeyObject>; skipped: string[] } {
  const keys = new Map<string, KeyObject>();
  const skipped: string[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { keys, skipped: ["the response is not a JSON object"] };
  }
  const keep = (kid: string, make: () => KeyObject): void => {
    try {
      const key = rsaKeyOf(make());
      if (typeof key === "string") skipped.push(`kid ${quoted(kid)} ${key}`);
      else keys.set(kid, key);
    } catch (error) {
      skipped.push(`kid ${quoted(kid)} is not a readable key (${(error as Error).message})`);
    }
  };
  const jwks = (body as { keys?: unknown }).keys;
  if (Array.isArray(jwks)) {
    for (const jwk of jwks as unknown[]) {
      const { kid, kty, alg, use } = (jwk ?? {}) as Record<string, unknown>;
      if (typeof kid !== "string" || kid === "") skipped.push("a JWK without a kid");
      else if (kty !== "RSA") skipped.push(`kid ${quoted(kid)} has kty ${quoted(kty)}, not "RSA"`);
      else if (alg !== undefined && alg !== "RS256")
        skipped.push(`kid ${quoted(kid)} is for alg ${quoted(alg)}`);
      else if (use !== undefined && use !== "sig")
        skipped.push(`kid ${quoted(kid)} is for use ${quoted(use)}`);
      else keep(kid, () => createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }));
    }
    return { keys, skipped };
  }
  for (const [kid, pem] of Object.entries(body)) {
    if (typeof pem !== "string") skipped.push(`kid ${quoted(kid)} is not a PEM string`);
    // createPublicKey reads a PEM X.509 certificate and returns its public key.
    else keep(kid, () => createPublicKey(pem));
  }
  return { keys, skipped };
}

class CertificateCache {
  private current: CertificateSet | undefined;
  private inflight: Promise<CertificateSet> | undefined;
  private lastFetchStartedAt = Number.NEGATIVE_INFINITY;
  private lastFailure: { at: number; reason: string } | undefined;

  constructor(
    private readonly url: string,
    private readonly fetchFn: typeof fetch,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** The key for `kid`, fetching the certificates when none are cached, they expired, or kid is new. */
  async keyFor(kid: string): Promise<KeyObject | undefined> {
    const now = this.now();
    const cached = this.current;
    if (cached && now < cached.expiresAt) {
      const key = cached.keys.get(kid);
      if (key || now - this.lastFetchStartedAt < unknownKidRefetchSeconds * 1000) return key;
      // Google rotates its keys: a kid we have not seen may be newer than our copy.
    }
    const { set, failure } = await this.refresh(cached);
    const key = set.keys.get(kid);
    // A kid missing from a stale copy may be one we could not fetch: that is an outage, not a forgery.
    if (!key && failure) throw this.unavailable(failure);
    return key;
  }

  /** Fetches (one fetch shared by concurrent callers); on failure falls back to a stale copy. */
  private async refresh(
    stale: CertificateSet | undefined,
  ): Promise<{ set: CertificateSet; failure?: string }> {
    const failure = this.lastFailure;
    if (!this.inflight && failure && this.now() - failure.at < fetchFailureBackoffSeconds * 1000) {
      if (stale) return { set: stale, failure: failure.reason };
      throw this.unavailable(failure.reason);
    }
    this.inflight ??= this.fetchCertificates().finally(() => {
      this.inflight = undefined;
    });
    try {
      return { set: await this.inflight };
    } catch (error) {
      const reason = (error as Error).message;
      if (stale) {
        this.log.warn("Could not refresh the token-signing certificates; using the cached copy", {
          certsUrl: this.url,
          reason,
        });
        return { set: stale, failure: reason };
      }
      throw this.unavailable(reason);
    }
  }

  private unavailable(reason: string): ScheduledTaskError {
    return new ScheduledTaskError(
      "unavailable",
      "the token-signing certificates could not be fetched, so no token can be verified; try again later",
      { cause: new Error(`${this.url}: ${reason}`) },
    );
  }

  private async fetchCertificates(): Promise<CertificateSet> {
    const startedAt = this.now();
    this.lastFetchStartedAt = startedAt;
    try {
      let response: Response;
      try {
        response = await this.fetchFn(this.url, {
          headers: { accept: "application/json" },
          signal: AbortSignal.timeout(fetchTimeoutMs),
        });
      } catch (error) {
        throw new Error(`request failed: ${(error as Error).message}`, { cause: error });
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`answered HTTP ${response.status}`);
      }
      let body: unknown;
      try {
        body = await response.json();
      } catch {
        throw new Error("answered with a body that is not JSON");
      }
      const { keys, skipped } = parseCertificates(body);
      if (skipped.length > 0) {
        this.log.warn("Skipped unusable token-signing certificates", { certsUrl: this.url, skipped });
      }
      if (keys.size === 0) throw new Error("answered with no usable RSA certificate");
      const cacheSeconds = cacheSecondsOf(response.headers.get("cache-control"), response.headers.get("age"));
      const fetchedAt = this.now();
      const set: CertificateSet = { keys, fetchedAt, expiresAt: fetchedAt + cacheSeconds * 1000 };
      this.current = set;
      this.lastFailure = undefined;
      this.log.info("Fetched the token-signing certificates", {
        certsUrl: this.url,
        kids: [...keys.keys()],
        cacheSeconds,
        durationMs: fetchedAt - startedAt,
      });
      return set;
    } catch (error) {
      const reason = (error as Error).message;
      this.lastFailure = { at: this.now(), reason };
      this.log.error("Could not fetch the token-signing certificates", { certsUrl: this.url, reason });
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

interface ParsedToken {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signaturePart: string;
}

function parseAuthorization(authorization: string | undefined): ParsedToken {
  if (authorization === undefined || authorization.trim() === "") {
    throw unauthenticated(
      "missing Authorization header: send an ID token as 'Authorization: Bearer <token>'",
    );
  }
  if (authorization.length > maxTokenLength) {
    throw unauthenticated(`the Authorization header is longer than ${maxTokenLength} characters`);
  }
  const bearer = bearerPattern.exec(authorization);
  if (!bearer) {
    throw unauthenticated("the Authorization header is not of the form 'Bearer <token>'");
  }
  const token = bearer[1] as string;
  const parts = tokenPattern.exec(token);
  if (!parts) {
    throw unauthenticated("the bearer token is not a JWT (three base64url parts separated by dots)");
  }
  const [, headerPart, payloadPart, signaturePart] = parts as unknown as [string, string, string, string];
  const header = decodeJsonObject(headerPart);
  if (!header) throw unauthenticated("the token's header is not base64url-encoded JSON object");
  const claims = decodeJsonObject(payloadPart);
  if (!claims) throw unauthenticated("the token's payload is not base64url-encoded JSON object");
  return { header, claims, signingInput: `${headerPart}.${payloadPart}`, signaturePart };
}

export function createAuthenticator(config: AuthConfig, deps: AuthDeps = {}): Authenticator {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? silentLogger;
  const operators = new Set([...(config.operatorEmails ?? [])].map(asciiLowerCase));
  const audiences = new Set(config.audiences.map(withoutTrailingSlashes));
  const rules: ClaimRules = {
    audiences,
    operatorAudiences: new Set([...audiences, gcloudUserAudience]),
    allowed: new Set([...[...config.allowedEmails].map(asciiLowerCase), ...operators]),
    operators,
    skewSeconds: config.clockSkewSeconds ?? defaultClockSkewSeconds,
    now,
  };
  const certificates = new CertificateCache(config.certsUrl, deps.fetch ?? globalThis.fetch, now, log);
  return {
    async authenticate(authorization) {
      const token = parseAuthorization(authorization);
      checkHeader(token.header);
      await checkSignature(token, config.mode, certificates);
      return checkClaims(token.claims, rules);
    },
  };
}

function checkHeader(header: Record<string, unknown>): void {
  const { alg, crit } = header;
  // Only RS256, checked before any key is touched: this is what stops `none` and HS256 signed
  // with the public key (the algorithm-confusion attack).
  if (alg !== "RS256") {
    throw unauthenticated(`the token's algorithm ${quoted(alg)} is not accepted (only RS256)`);
  }
  if (crit !== undefined) {
    throw unauthenticated("the token's header has critical extensions (crit) this function does not know");
  }
}

/** Nothing to verify in `cloud-run` mode when Cloud Run verified the token and removed its signature. */
async function checkSignature(
  token: ParsedToken,
  mode: AuthMode,
  certificates: CertificateCache,
): Promise<void> {
  const { header, signingInput, signaturePart } = token;
  if (signaturePart === "" || signaturePart === signatureRemovedMarker) {
    if (mode === "cloud-run") return;
    throw unauthenticated(
      "the token carries no signature (removed in transit); this function verifies signatures itself",
    );
  }
  const kid = header.kid;
  if (typeof kid !== "string" || kid === "") {
    throw unauthenticated("the token's header has no kid, so its signing key is unknown");
  }
  const signature = decodeBase64Url(signaturePart);
  if (!signature) throw unauthenticated("the token's signature is not canonical base64url");
  const key = await certificates.keyFor(kid);
  if (!key) throw unauthenticated(`the token was signed with an unknown key (kid ${quoted(kid)})`);
  let valid: boolean;
  try {
    valid = verifySignature("sha256", Buffer.from(signingInput), key, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw unauthenticated("the token's signature is not valid");
}

/** What the claims are checked against. */
interface ClaimRules {
  /** Accepted audiences, without trailing slashes. */
  readonly audiences: ReadonlySet<string>;
  /** An operator's: those, and gcloud's own for a person's token (`gcloud run services proxy`). */
  readonly operatorAudiences: ReadonlySet<string>;
  /** Allowed emails (operators included), ASCII-lower-cased. */
  readonly allowed: ReadonlySet<string>;
  /** Operators' emails, ASCII-lower-cased. */
  readonly operators: ReadonlySet<string>;
  readonly skewSeconds: number;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
}

function checkClaims(claims: Record<string, unknown>, rules: ClaimRules): Caller {
  checkIssuer(claims.iss);
  // Which audiences count depends on who claims to call; that claim is checked in full below.
  const operator = typeof claims.email === "string" && rules.operators.has(asciiLowerCase(claims.email));
  checkAudience(claims.aud, operator ? rules.operatorAudiences : rules.audiences);
  checkTimes(claims, rules);
  return { ...callerOf(claims, rules.allowed), operator };
}

function checkIssuer(iss: unknown): void {
  if (typeof iss !== "string" || !googleIssuers.includes(iss)) {
    throw unauthenticated(
      iss === undefined ? "the token has no issuer (iss)" : `the token's issuer ${quoted(iss)} is not Google`,
    );
  }
}

function checkAudience(aud: unknown, audiences: ReadonlySet<string>): void {
  const tokenAudiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (!tokenAudiences || tokenAudiences.length === 0) {
    throw unauthenticated("the token has no audience (aud)");
  }
  // OpenID Connect Core 1.0, 3.1.3.7 step 3: the token "MUST be rejected if [it] does not list
  // the Client as a valid audience, or if it contains additional audiences not trusted by the
  // Client" (https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation). Trusted
  // here means listed in AUTH_AUDIENCE.
  const trusted = (value: unknown): boolean =>
    typeof value === "string" && audiences.has(withoutTrailingSlashes(value));
  if (!tokenAudiences.some(trusted)) {
    throw unauthenticated(`the token's audience ${quoted(aud)} is not this function's (AUTH_AUDIENCE)`);
  }
  if (!tokenAudiences.every(trusted)) {
    throw unauthenticated(
      `the token's audience ${quoted(aud)} lists audiences besides this function's (AUTH_AUDIENCE)`,
    );
  }
}

function checkTimes({ exp, iat, nbf }: Record<string, unknown>, rules: ClaimRules): void {
  const seconds = rules.now() / 1000;
  const skew = rules.skewSeconds;
  if (!isNumericDate(exp)) throw unauthenticated("the token has no valid expiry (exp)");
  if (!isNumericDate(iat)) throw unauthenticated("the token has no valid issue time (iat)");
  if (seconds > exp + skew) {
    throw unauthenticated(`the token expired at ${new Date(exp * 1000).toISOString()}`);
  }
  if (iat > seconds + skew) {
    throw unauthenticated(`the token is issued in the future (iat ${new Date(iat * 1000).toISOString()})`);
  }
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) throw unauthenticated("the token's not-before time (nbf) is not a number");
    if (nbf > seconds + skew) {
      throw unauthenticated(`the token is not valid before ${new Date(nbf * 1000).toISOString()}`);
    }
  }
  if (exp - iat > maxTokenLifetimeSeconds) {
    throw unauthenticated(`the token's lifetime (exp - iat) exceeds ${maxTokenLifetimeSeconds} seconds`);
  }
}

function callerOf(claims: Record<string, unknown>, allowed: ReadonlySet<string>): Omit<Caller, "operator"> {
  const { sub, email } = claims;
  if (typeof sub !== "string" || sub === "") throw unauthenticated("the token has no subject (sub)");
  if (typeof email !== "string" || email === "") {
    throw unauthenticated("the token has no email claim (mint it with the service account's email included)");
  }
  if (claims.email_verified !== true) {
    throw forbidden(`the token's email ${quoted(email)} is not verified (email_verified is not true)`);
  }
  if (!allowed.has(asciiLowerCase(email))) {
    throw forbidden(`the caller ${quoted(email)} is not allowed to call this function (AUTH_ALLOWED_EMAILS)`);
  }
  // As received: the log shows what the token said, not a folded form of it.
  return { email, subject: sub };
}
