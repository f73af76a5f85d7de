/**
 * Forged and defective ID tokens, described as data (so fast-check can generate and shrink them) and
 * minted at send time with the test's development identity and an impostor's key. Every one is wrong
 * in at least one way the function must refuse; the function's own tests go through each defect in
 * depth, these prove the deployed bundle refuses them over HTTP.
 */
import { createHmac, sign } from "node:crypto";
import type { KeyObject } from "node:crypto";
import fc from "fast-check";
import type { DevIdentity, TokenSpec } from "../../scripts/local/dev-identity.js";
import { stripSignature } from "../../scripts/local/dev-identity.js";

/** How a forged token is signed: another key, the wrong algorithm, or no signature at all. */
export type TokenSignature =
  /** RS256 with the identity's key, or with another key (a forgery). */
  | { kind: "rs256"; key?: KeyObject }
  /** HMAC-SHA256, e.g. keyed with the public certificate (the algorithm-confusion attack). */
  | { kind: "hs256"; secret: string | Buffer }
  /** An empty signature part (`alg: none` style, or a signature stripped in transit). */
  | { kind: "none" }
  /** This exact text as the signature part, e.g. `SIGNATURE_REMOVED_BY_GOOGLE`. */
  | { kind: "raw"; value: string };

export interface ForgedTokenSpec extends TokenSpec {
  /** Default: RS256 with the identity's key. */
  signature?: TokenSignature;
}

function signatureFor(signingInput: string, signature: TokenSignature, defaultKey: KeyObject): string {
  switch (signature.kind) {
    case "rs256":
      return sign("sha256", Buffer.from(signingInput), signature.key ?? defaultKey).toString("base64url");
    case "hs256":
      return createHmac("sha256", signature.secret).update(signingInput).digest("base64url");
    case "none":
      return "";
    case "raw":
      return signature.value;
  }
}

/** A token of the identity's header and claims (with the spec's changes), signed as the spec says. */
export function forgeToken(identity: DevIdentity, spec: ForgedTokenSpec = {}): string {
  const { signature, ...rest } = spec;
  const token = identity.mintToken(rest);
  if (!signature) return token;
  const signingInput = token.slice(0, token.lastIndexOf("."));
  return `${signingInput}.${signatureFor(signingInput, signature, identity.privateKey)}`;
}

/** The identity's public key as SPKI PEM: what an algorithm-confusion forgery uses as its HMAC secret. */
export function publicKeyPemOf(identity: DevIdentity): string {
  return identity.publicKey.export({ type: "spki", format: "pem" }).toString();
}

export type SignatureDefect = "impostor-key" | "hs256-public-key" | "none" | "removed-by-google" | "garbage";

export interface Forgery {
  readonly defect: string;
  readonly header?: Record<string, unknown>;
  readonly claims?: Record<string, unknown>;
  readonly signature?: SignatureDefect;
  /** Applied to the finished token text. */
  readonly mangle?: "truncate" | "pad" | "drop-part" | "extra-part" | "flip-payload";
  /** Statuses the contract allows: 401, or 403 for a well-signed token of a caller not allowed. */
  readonly expected: readonly number[];
}

const now = (): number => Math.floor(Date.now() / 1000);

/** A claim or header set for a failure message, absent ones shown as such. */
const show = (fields: Record<string, unknown>): string =>
  JSON.stringify(fields, (_key, value: unknown) => (value === undefined ? "(absent)" : value));

const signatureDefect = fc.constantFrom<SignatureDefect>(
  "impostor-key",
  "hs256-public-key",
  "none",
  "removed-by-google",
  "garbage",
);

/** One way for a token to be wrong. Claims that depend on the clock are resolved when minted. */
export const forgery: fc.Arbitrary<Forgery> = fc.oneof(
  signatureDefect.chain((signature) =>
    fc
      .constantFrom<Record<string, unknown>>(
        {},
        { alg: "none" },
        { alg: "HS256" },
        { alg: "RS512" },
        { alg: "" },
      )
      .map((header): Forgery => ({
        defect: `signature ${signature} alg ${String(header.alg ?? "RS256")}`,
        header,
        signature,
        expected: [401],
      })),
  ),
  fc
    .constantFrom(
      { aud: "https://attacker.example" },
      { aud: "http://localhost:8081" },
      { aud: [] },
      { aud: null },
      { aud: 1 },
      { iss: "https://accounts.google.com.attacker.example" },
      { iss: "https://evil.example" },
      { iss: undefined },
      { exp: "later" },
      { exp: undefined },
      { iat: undefined },
      { sub: undefined, email: undefined },
    )
    .map((claims): Forgery => ({ defect: `claims ${show(claims)}`, claims, expected: [401] })),
  fc
    .constantFrom("https://attacker.example", "http://localhost:8081", "")
    // Ours and another: OpenID Connect Core 3.1.3.7 refuses a token with an untrusted audience.
    .map((extra): Forgery => ({
      defect: `audience ours and ${JSON.stringify(extra)}`,
      claims: { audBesidesOurs: extra },
      expected: [401],
    })),
  fc.constantFrom("\u212a", "\u212A").map(
    // The allowed email with a look-alike that toLowerCase folds into "k".
    (lookalike): Forgery => ({
      defect: "email with a KELVIN SIGN for k",
      claims: { emailLookalikeOfK: lookalike },
      expected: [401, 403],
    }),
  ),
  fc
    .constantFrom({ email_verified: false }, { email_verified: "true" }, { email_verified: undefined })
    // Genuinely signed, but the caller is not proven to be the allowed account: 401 or 403.
    .map((claims): Forgery => ({ defect: `claims ${show(claims)}`, claims, expected: [401, 403] })),
  fc
    .integer({ min: 120, max: 10 * 86_400 })
    .map((ago): Forgery => ({ defect: "expired", claims: { expRelative: -ago }, expected: [401] })),
  fc.integer({ min: 600, max: 86_400 }).map((ahead): Forgery => ({
    defect: "issued in the future",
    claims: { iatRelative: ahead },
    expected: [401],
  })),
  fc
    .constantFrom(
      "someone-else@local-development.iam.gserviceaccount.com",
      "SCHEDULED-TASKS-INVOKER@local-development.iam.gserviceaccount.com.evil",
      "attacker@gmail.com",
      "",
    )
    // A genuine signature over a caller who is not allowed: refused as unauthenticated or forbidden.
    .map((email): Forgery => ({ defect: `email ${email}`, claims: { email }, expected: [401, 403] })),
  fc
    .constantFrom<Record<string, unknown>>(
      { kid: undefined },
      { kid: "0000000000000000000000000000000000000000" },
      { kid: "../../etc/passwd" },
      { kid: 7 },
      { typ: "JWE", enc: "A256GCM" },
      { crit: ["exp"] },
      { jku: "https://attacker.example/keys" },
      { x5u: "https://attacker.example/cert.pem" },
    )
    .chain((header) =>
      // A missing or unknown kid must be refused even over a genuine signature; any other odd header
      // (jku, x5u, crit) comes with an impostor's signature: it must never make the function trust it.
      ("kid" in header
        ? fc.constantFrom<Forgery["signature"]>(undefined, "impostor-key")
        : fc.constant<Forgery["signature"]>("impostor-key")
      ).map((signature): Forgery => ({
        defect: `header ${show(header)}${signature ? " signed by an impostor" : ""}`,
        header,
        ...(signature ? { signature } : {}),
        expected: [401],
      })),
    ),
  fc
    .constantFrom<NonNullable<Forgery["mangle"]>>(
      "truncate",
      "pad",
      "drop-part",
      "extra-part",
      "flip-payload",
    )
    .map((mangle): Forgery => ({ defect: `token ${mangle}`, mangle, expected: [401] })),
);

function signatureOf(defect: SignatureDefect, identity: DevIdentity, impostor: DevIdentity): TokenSignature {
  switch (defect) {
    case "impostor-key":
      return { kind: "rs256", key: impostor.privateKey };
    case "hs256-public-key":
      return { kind: "hs256", secret: publicKeyPemOf(identity) };
    case "none":
      return { kind: "none" };
    case "removed-by-google":
      return { kind: "raw", value: "SIGNATURE_REMOVED_BY_GOOGLE" };
    case "garbage":
      return { kind: "raw", value: Buffer.from("not a signature").toString("base64url") };
  }
}

/** The token text of a forgery. */
export function mint(forged: Forgery, identity: DevIdentity, impostor: DevIdentity): string {
  const { expRelative, iatRelative, audBesidesOurs, emailLookalikeOfK, ...claims } = (forged.claims ??
    {}) as Record<string, unknown> & {
    expRelative?: number;
    iatRelative?: number;
    audBesidesOurs?: string;
    emailLookalikeOfK?: string;
  };
  if (typeof audBesidesOurs === "string") claims.aud = [identity.audience, audBesidesOurs];
  if (typeof emailLookalikeOfK === "string") claims.email = identity.email.replace("k", emailLookalikeOfK);
  if (typeof expRelative === "number") {
    claims.exp = now() + expRelative;
    claims.iat = now() + expRelative - 3600;
  }
  if (typeof iatRelative === "number") {
    claims.iat = now() + iatRelative;
    claims.exp = now() + iatRelative + 3600;
  }
  let token = forgeToken(identity, {
    ...(forged.header ? { header: forged.header } : {}),
    claims,
    ...(forged.signature ? { signature: signatureOf(forged.signature, identity, impostor) } : {}),
  });
  if (forged.signature === "removed-by-google") token = stripSignature(token);
  switch (forged.mangle) {
    case "truncate":
      return token.slice(0, token.length - 7);
    case "pad":
      return `${token}==`;
    case "drop-part":
      return token.slice(0, token.lastIndexOf("."));
    case "extra-part":
      return `${token}.${token.split(".")[2]}`;
    case "flip-payload": {
      const [header, payload, signature] = token.split(".") as [string, string, string];
      const claimsText = Buffer.from(payload, "base64url")
        .toString("utf8")
        .replace('"email_verified":true', '"email_verified":true,"admin":true');
      return `${header}.${Buffer.from(claimsText).toString("base64url")}.${signature}`;
    }
    default:
      return token;
  }
}
