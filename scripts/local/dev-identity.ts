/**
 * The development identity: what stands in for Google's token issuer in local runs and tests, so the
 * function verifies local tokens exactly as it verifies Google's. An RSA key pair generated at run time
 * (never stored), its certificate in Google's PEM-certificates JSON format served on loopback, and
 * Google-like RS256 ID tokens signed with it. Not part of the deployed function.
 */
import { generateKeyPairSync, randomBytes, randomInt, sign } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { signatureRemovedMarker } from "../../functions/gcp/google-identities.js";
import { selfSignedCertificate } from "./x509.js";

/** The claims of a Google ID token minted for a service account (plus any extra). */
export interface IdTokenClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  azp?: string;
  email: string;
  email_verified: boolean;
  iat: number;
  exp: number;
  nbf?: number;
  [claim: string]: unknown;
}

export interface TokenSpec {
  /** Merged over `{alg: "RS256", kid, typ: "JWT"}`; a key set to `undefined` is left out. */
  header?: Record<string, unknown>;
  /** Merged over the identity's valid claims; a key set to `undefined` is left out. */
  claims?: Record<string, unknown>;
}

export interface DevIdentity {
  /** The key id, in the token header and as the key of the certificates JSON. */
  readonly kid: string;
  /** The service account email the tokens carry by default. */
  readonly email: string;
  /** The audience the tokens carry by default. */
  readonly audience: string;
  readonly subject: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The self-signed X.509 certificate of the public key, PEM. */
  readonly certificatePem: string;
  /** Google's PEM format: `{ kid: certificate }`. */
  certs(): Record<string, string>;
  /** The JWK-set format: `{ keys: [...] }`. */
  jwks(): { keys: JsonWebKey[] };
  /** The claims of a valid token now, with overrides. */
  claims(overrides?: Partial<IdTokenClaims>): IdTokenClaims;
  /** A valid Google-like ID token (RS256, this key's kid), with claim overrides. */
  signIdToken(overrides?: Partial<IdTokenClaims>): string;
  /** A token built to a spec, RS256-signed with this identity's key: any header and claims, valid or not. */
  mintToken(spec?: TokenSpec): string;
}

interface DevIdentityOptions {
  email?: string;
  audience?: string;
  kid?: string;
  /** Milliseconds since the epoch, for `iat`/`exp`; default `Date.now`. */
  now?: () => number;
  /** Token lifetime; Google's ID tokens live an hour. */
  lifetimeSeconds?: number;
}

export const devInvokerEmail = "scheduled-tasks-invoker@local-development.iam.gserviceaccount.com";
/** The local function's own account: whose ID tokens its http tasks carry to their target. */
export const devRuntimeEmail = "scheduled-tasks-runtime@local-development.iam.gserviceaccount.com";
const devAudience = "http://localhost:8080";

/**
 * The local operator: whose name the dashboard's actions under `npm start` are recorded with (the
 * console calls the function with this email's tokens, and the function lists it in
 * OPERATOR_EMAILS). The user at the keyboard, as an address the function accepts.
 */
export function devOperatorEmail(username: string): string {
  const local = username
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[.-]+|[.-]+$/g, "");
  return `${local || "operator"}@localhost.localdomain`;
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** What Cloud Run does to a token it verified before forwarding the request. */
export function stripSignature(token: string, replacement = signatureRemovedMarker): string {
  return `${token.slice(0, token.lastIndexOf("."))}.${replacement}`;
}

export function createDevIdentity(options: DevIdentityOptions = {}): DevIdentity {
  const now = options.now ?? Date.now;
  const lifetime = options.lifetimeSeconds ?? 3600;
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = options.kid ?? randomBytes(20).toString("hex");
  const email = options.email ?? devInvokerEmail;
  const audience = options.audience ?? devAudience;
  // Google's subjects are 21-digit numbers.
  const subject = `1${Array.from({ length: 20 }, () => randomInt(10)).join("")}`;
  const issued = new Date(now());
  const certificatePem = selfSignedCertificate(publicKey, privateKey, {
    commonName: `development token signer ${kid.slice(0, 8)}`,
    notBefore: new Date(issued.getTime() - 3600_000),
    notAfter: new Date(issued.getTime() + 365 * 86_400_000),
  });

  const claims = (overrides: Partial<IdTokenClaims> = {}): IdTokenClaims => {
    const iat = Math.floor(now() / 1000);
    return {
      iss: "https://accounts.google.com",
      aud: audience,
      azp: subject,
      sub: subject,
      email,
      email_verified: true,
      iat,
      exp: iat + lifetime,
      ...overrides,
    };
  };

  const mintToken = (spec: TokenSpec = {}): string => {
    const header = { alg: "RS256", kid, typ: "JWT", ...spec.header };
    const payload = { ...claims(), ...spec.claims };
    const signingInput = `${base64UrlJson(header)}.${base64UrlJson(payload)}`;
    return `${signingInput}.${sign("sha256", Buffer.from(signingInput), privateKey).toString("base64url")}`;
  };

  return {
    kid,
    email,
    audience,
    subject,
    privateKey,
    publicKey,
    certificatePem,
    certs: () => ({ [kid]: certificatePem }),
    jwks: () => ({ keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }] }),
    claims,
    signIdToken: (overrides = {}) => mintToken({ claims: overrides }),
    mintToken,
  };
}

export interface CertsServer {
  /** The URL to give `AUTH_CERTS_URL`. */
  readonly url: string;
  /** The JWK-set URL of the same keys. */
  readonly jwksUrl: string;
  /** How many certificate requests the server has answered (each a fetch by a verifier). */
  readonly requests: number;
  /** Serve these identities' keys from now on (key rotation). */
  setIdentities(identities: DevIdentity | readonly DevIdentity[]): void;
  /** Answer every request with this HTTP status (an outage); `undefined` to serve again. */
  setFailure(status: number | undefined): void;
  close(): Promise<void>;
}

interface ServeCertsOptions {
  /** The `Cache-Control: max-age` of the answers; Google's is a few hours. */
  maxAgeSeconds?: number;
  /** Hold each answer this long (to prove concurrent first requests share one fetch). */
  delayMs?: number;
  port?: number;
}

/**
 * A loopback HTTP server serving the identities' certificates the way Google does: PEM format at
 * `/oauth2/v1/certs` (the returned `url`), JWK set at `/oauth2/v3/certs`.
 */
export async function serveCerts(
  identities: DevIdentity | readonly DevIdentity[],
  options: ServeCertsOptions = {},
): Promise<CertsServer> {
  let served: readonly DevIdentity[] = Array.isArray(identities) ? identities : [identities as DevIdentity];
  let failure: number | undefined;
  let requests = 0;
  const maxAge = options.maxAgeSeconds ?? 21_600;

  const server = createServer((request, response) => {
    requests += 1;
    const answer = (): void => {
      const path = new URL(request.url ?? "/", "http://localhost").pathname;
      if (failure !== undefined) {
        response.writeHead(failure, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: "certificates unavailable" }));
        return;
      }
      let body: unknown;
      if (path === "/oauth2/v1/certs")
        body = Object.assign({}, ...served.map((identity) => identity.certs()));
      else if (path === "/oauth2/v3/certs")
        body = { keys: served.flatMap((identity) => identity.jwks().keys) };
      else {
        response.writeHead(404, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: "not found" }));
        return;
      }
      response.writeHead(200, {
        "content-type": "application/json; charset=UTF-8",
        "cache-control": `public, max-age=${maxAge}, must-revalidate, no-transform`,
      });
      response.end(JSON.stringify(body, null, 2));
    };
    if (options.delayMs) setTimeout(answer, options.delayMs);
    else answer();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/oauth2/v1/certs`,
    jwksUrl: `${base}/oauth2/v3/certs`,
    get requests() {
      return requests;
    },
    setIdentities(next) {
      served = Array.isArray(next) ? next : [next as DevIdentity];
    },
    setFailure(status) {
      failure = status;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
