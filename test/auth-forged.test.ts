/**
 * A generated corpus of forged and defective ID tokens, every way a token can be wrong: none may be
 * accepted, each must be refused with the right code (401, or 403 for a genuine token of a caller who
 * is not allowed). Real HTTP to a loopback certificates server, in both authentication modes.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthMode } from "../functions/core/config/auth-config.js";
import type { Authenticator } from "../functions/gcp/auth.js";
import { defaultClockSkewSeconds } from "../functions/core/config/auth-config.js";
import { createAuthenticator } from "../functions/gcp/auth.js";
import { googleIssuers } from "../functions/gcp/google-identities.js";
import { ScheduledTaskError } from "../functions/core/errors.js";
import type { ErrorCode } from "../functions/core/errors.js";
import type { CertsServer, DevIdentity } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";
import type { TokenSignature } from "./helpers/forged-tokens.js";
import { forgeToken, publicKeyPemOf } from "./helpers/forged-tokens.js";

const runs = { verify: 1500, "cloud-run": 800 } as const satisfies Record<AuthMode, number>;

let identity: DevIdentity;
/** A second genuine key served next to the first: a token signed by one under the other's kid. */
let sibling: DevIdentity;
/** An attacker's key under our kid. */
let impostor: DevIdentity;
let certs: CertsServer;
let startedAt: number;

beforeAll(async () => {
  identity = createDevIdentity({ audience: "https://scheduled-tasks-abc123-ew.a.run.app" });
  sibling = createDevIdentity({ audience: identity.audience });
  impostor = createDevIdentity({ kid: identity.kid, audience: identity.audience });
  certs = await serveCerts([identity, sibling]);
  startedAt = Date.now();
});

afterAll(async () => {
  await certs?.close();
});

interface Forgery {
  category: string;
  /** The Authorization header sent. */
  header: string | undefined;
  /** The codes an answer may carry (401 for anything not a genuine token; 403 for one not allowed). */
  codes: readonly ErrorCode[];
}

const U: readonly ErrorCode[] = ["unauthenticated"];
const F: readonly ErrorCode[] = ["forbidden"];
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const skew = defaultClockSkewSeconds;
const withoutTrailingSlashes = (value: string): string => value.replace(/\/+$/, "");

interface ClaimDefect {
  name: string;
  claims: Record<string, unknown>;
  codes: readonly ErrorCode[];
}

/** Claim sets a genuine signature would carry but that must still be refused. */
function claimDefects(): fc.Arbitrary<ClaimDefect> {
  const audience = identity.audience;
  const notOurAudience = (value: string): boolean =>
    withoutTrailingSlashes(value) !== withoutTrailingSlashes(audience);
  const defect = (name: string, codes: readonly ErrorCode[]) => (claims: Record<string, unknown>) => ({
    name,
    claims,
    codes,
  });
  const nonString = fc.oneof(
    fc.constant(null),
    fc.integer(),
    fc.boolean(),
    fc.constant({}),
    fc.array(fc.integer(), { maxLength: 2 }),
  );
  return fc.oneof(
    // audience
    fc
      .webUrl()
      .filter(notOurAudience)
      .map((aud) => defect("audience", U)({ aud })),
    fc
      .string({ minLength: 1, maxLength: 20 })
      .filter((suffix) => !/^\/+$/.test(suffix))
      .map((suffix) => defect("audience", U)({ aud: `${audience}${suffix}` })),
    fc
      .string({ minLength: 1, maxLength: 20 })
      .map((prefix) => defect("audience", U)({ aud: `${prefix}${audience}` })),
    fc
      .constantFrom(
        audience.replace("https://", "http://"),
        audience.toUpperCase(),
        "",
        "https://scheduled-tasks-abc123-ew.a.run.app.evil.example",
      )
      .map((aud) => defect("audience", U)({ aud })),
    fc
      .array(fc.webUrl().filter(notOurAudience), { maxLength: 3 })
      .map((aud) => defect("audience", U)({ aud })),
    fc.oneof(nonString, fc.constant(undefined)).map((aud) => defect("audience", U)({ aud })),
    // issuer
    fc
      .string({ maxLength: 40 })
      .filter((iss) => !googleIssuers.includes(iss))
      .map((iss) => defect("issuer", U)({ iss })),
    fc
      .constantFrom(
        "https://accounts.google.com/",
        "http://accounts.google.com",
        "https://accounts.google.com.evil.example",
        "https://securetoken.google.com/project",
        "ACCOUNTS.GOOGLE.COM",
        " accounts.google.com",
      )
      .map((iss) => defect("issuer", U)({ iss })),
    fc.oneof(nonString, fc.constant(undefined)).map((iss) => defect("issuer", U)({ iss })),
    // expiry
    fc.integer({ min: 2, max: 10_000_000 }).map((late) => {
      const exp = nowSeconds() - skew - late;
      return defect("expired", U)({ exp, iat: exp - 3600 });
    }),
    fc
      .oneof(nonString, fc.constant(undefined), fc.constant(String(nowSeconds() + 3600)))
      .map((exp) => defect("expired", U)({ exp })),
    // not yet valid
    fc
      .integer({ min: 2, max: 10_000_000 })
      .map((early) => defect("not-yet-valid", U)({ nbf: nowSeconds() + skew + early })),
    fc.integer({ min: 2, max: 10_000_000 }).map((early) => {
      const iat = nowSeconds() + skew + early;
      return defect("not-yet-valid", U)({ iat, exp: iat + 3600 });
    }),
    fc.oneof(nonString, fc.constant(undefined)).map((iat) => defect("not-yet-valid", U)({ iat })),
    // lifetime
    fc.integer({ min: 86_401, max: 100_000_000 }).map((lifetime) => {
      const iat = nowSeconds() - 10;
      return defect("lifetime", U)({ iat, exp: iat + lifetime });
    }),
    // subject
    fc.oneof(nonString, fc.constant(undefined), fc.constant("")).map((sub) => defect("subject", U)({ sub })),
    // email
    fc
      .emailAddress()
      .filter((email) => email.toLowerCase() !== identity.email)
      .map((email) => defect("email-not-allowed", F)({ email })),
    fc
      .string({ minLength: 1, maxLength: 10 })
      .map((junk) => defect("email-not-allowed", F)({ email: `${identity.email}${junk}` })),
    fc
      .oneof(nonString, fc.constant(undefined), fc.constant(""))
      .map((email) => defect("email-missing", U)({ email })),
    fc
      .constantFrom<unknown>(false, "true", 1, null, undefined, "yes", [true])
      .map((verified) => defect("email-unverified", F)({ email_verified: verified })),
  );
}

/** Every way to be wrong, with claims defects signed by the genuine key. */
function forgeries(mode: AuthMode): fc.Arbitrary<Forgery> {
  const valid = (): string => identity.signIdToken();
  const forgery = (category: string, header: string | undefined, codes = U): Forgery => ({
    category,
    header,
    codes,
  });
  const bearer = (token: string): string => `Bearer ${token}`;
  const replacePart = (token: string, index: number, part: string): string => {
    const parts = token.split(".");
    parts[index] = part;
    return parts.join(".");
  };
  /** Claims are where a genuine signature can still carry a wrong caller: they are drawn more often. */
  const weighty = (arbitrary: fc.Arbitrary<Forgery>): fc.WeightedArbitrary<Forgery> => ({
    arbitrary,
    weight: 6,
  });
  const nonEmptyBytes = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes));

  const categories: Array<fc.Arbitrary<Forgery> | fc.WeightedArbitrary<Forgery>> = [
    // A genuine token whose signature has one bit flipped.
    fc.nat({ max: 2047 }).map((bit) => {
      const token = valid();
      const signature = Buffer.from(token.split(".")[2] as string, "base64url");
      signature[bit >> 3] = (signature[bit >> 3] as number) ^ (1 << (bit & 7));
      return forgery("signature-bit-flip", bearer(replacePart(token, 2, signature.toString("base64url"))));
    }),
    nonEmptyBytes.map((bytes) =>
      forgery("signature-random", bearer(replacePart(valid(), 2, bytes.toString("base64url")))),
    ),
    claimDefects().map((defect) =>
      // the impostor signs claims of its choosing (here: valid ones or defective ones) under our kid
      forgery("signature-other-key", bearer(impostor.mintToken({ claims: defect.claims }))),
    ),
    fc.string({ minLength: 1, maxLength: 12 }).map((sub) => {
      const donor = valid().split(".")[2] as string;
      return forgery(
        "signature-of-another-token",
        bearer(replacePart(identity.signIdToken({ sub }), 2, donor)),
      );
    }),
    // alg swaps, each with every kind of signature
    fc
      .tuple(
        fc.constantFrom<unknown>(
          "none",
          "None",
          "NONE",
          "nOnE",
          "HS256",
          "HS384",
          "HS512",
          "RS384",
          "RS512",
          "PS256",
          "ES256",
          "EdDSA",
          "",
          "rs256",
          "RS256 ",
          " RS256",
          null,
          256,
          ["RS256"],
          { alg: "RS256" },
          undefined,
        ),
        fc.constantFrom<TokenSignature | "hs-jwk">(
          { kind: "none" },
          { kind: "rs256" },
          { kind: "hs256", secret: "placeholder" },
          "hs-jwk",
          { kind: "raw", value: "c2lnbmF0dXJl" },
        ),
        fc.boolean(),
      )
      .map(([alg, signature, usePem]) => {
        let chosen: TokenSignature;
        if (signature === "hs-jwk")
          chosen = { kind: "hs256", secret: JSON.stringify(identity.jwks().keys[0]) };
        else if (signature.kind === "hs256") {
          // algorithm confusion: the HMAC key is the public key (PEM) or the served certificate
          chosen = { kind: "hs256", secret: usePem ? publicKeyPemOf(identity) : identity.certificatePem };
        } else chosen = signature;
        return forgery("alg-swap", bearer(forgeToken(identity, { header: { alg }, signature: chosen })));
      }),
    fc
      .constantFrom<unknown>(undefined, null, "", 0, ["kid"], {})
      .map((kid) => forgery("kid-missing", bearer(identity.mintToken({ header: { kid } })))),
    fc
      .string({ minLength: 1, maxLength: 64 })
      .filter((kid) => kid !== identity.kid && kid !== sibling.kid)
      .map((kid) => forgery("kid-unknown", bearer(identity.mintToken({ header: { kid } })))),
    fc
      .constant(null)
      .map(() =>
        forgery("kid-of-another-served-key", bearer(identity.mintToken({ header: { kid: sibling.kid } }))),
      ),
    fc
      .constantFrom<unknown>(["exp"], ["b64"], [], "x")
      .map((crit) => forgery("header-crit", bearer(identity.mintToken({ header: { crit } })))),
    // genuine signatures over defective claims
    weighty(
      claimDefects().map((defect) =>
        forgery(`claims-${defect.name}`, bearer(identity.mintToken({ claims: defect.claims })), defect.codes),
      ),
    ),
    fc
      .array(claimDefects(), { minLength: 2, maxLength: 4 })
      .map((defects) =>
        forgery(
          "claims-several",
          bearer(identity.mintToken({ claims: Object.assign({}, ...defects.map((d) => d.claims)) })),
          [...new Set(defects.flatMap((d) => d.codes))],
        ),
      ),
    // JSON that is not an object, or not JSON, under a genuine signature
    fc
      .tuple(
        fc.constantFrom("header", "payload"),
        fc.oneof(
          fc.json().filter((text) => !text.startsWith("{")),
          fc.string({ maxLength: 30 }),
          fc.constant('{"alg":"RS256"'),
        ),
      )
      .map(([which, text]) => {
        const [headerPart, payloadPart] = valid().split(".") as [string, string];
        const encoded = Buffer.from(text).toString("base64url");
        const input = which === "header" ? `${encoded}.${payloadPart}` : `${headerPart}.${encoded}`;
        const signature = identity.mintToken().split(".")[2] as string;
        return forgery("json-shape", bearer(`${input}.${signature}`));
      }),
    // truncated anywhere (except, in cloud-run mode, exactly at the signature: that is a stripped token)
    fc.nat().map((position) => {
      const token = valid();
      const strippedAt = token.lastIndexOf(".") + 1;
      let cut = position % token.length;
      if (mode === "cloud-run" && cut === strippedAt) cut -= 1;
      return forgery("truncated", bearer(token.slice(0, cut)));
    }),
    // padded, extended or wrapped
    fc
      .tuple(
        fc.constantFrom(0, 1, 2),
        fc.constantFrom("=", "==", "===", "%3D", ".", "..", "\n", "\t", "\u0000", "+", "/", " x", "\u200b"),
        fc.boolean(),
      )
      .map(([index, padding, before]) => {
        const token = valid();
        const part = token.split(".")[index] as string;
        return forgery(
          "padded",
          bearer(replacePart(token, index, before ? `${padding}${part}` : `${part}${padding}`)),
        );
      }),
    fc
      .constantFrom(
        (t: string) => `${t}.`,
        (t: string) => `${t}.${t}`,
        (t: string) => `${t}.e30`,
        (t: string) => `.${t}`,
      )
      .map((extend) => forgery("extra-parts", bearer(extend(valid())))),
    // base64 garbage in a part: any characters, or standard (not url-safe) base64
    fc
      .tuple(fc.constantFrom(0, 1, 2), fc.string({ minLength: 1, maxLength: 200, unit: "binary" }))
      .map(([index, junk]) => forgery("base64-garbage", bearer(replacePart(valid(), index, junk)))),
    fc.constantFrom(0, 1, 2).map((index) => {
      const token = valid();
      const standard = Buffer.from(token.split(".")[index] as string, "base64url").toString("base64");
      return forgery("base64-standard-alphabet", bearer(replacePart(token, index, standard)));
    }),
    // not a bearer token
    fc
      .constantFrom(
        (t: string) => `Basic ${t}`,
        (t: string) => `Token ${t}`,
        (t: string) => t,
        (t: string) => `Bearer: ${t}`,
        (t: string) => `Bearer\t${t}`,
        (t: string) => `Bearer ${t} ${t}`,
        () => "Bearer",
        () => "",
        () => undefined,
      )
      .map((wrap) => forgery("not-bearer", wrap(valid()))),
    // too large to be an ID token
    fc
      .integer({ min: 9000, max: 40_000 })
      .map((size) => forgery("oversized", bearer(identity.signIdToken({ filler: "x".repeat(size) })))),
  ];

  if (mode === "verify") {
    // a signature removed in transit is no signature
    categories.push(
      fc
        .constantFrom("SIGNATURE_REMOVED_BY_GOOGLE", "")
        .map((marker) => forgery("stripped", bearer(stripSignature(valid(), marker)))),
    );
  } else {
    // what reaches the code after Cloud Run verified a genuine token with defective claims
    categories.push(
      weighty(
        claimDefects().map((defect) =>
          forgery(
            `stripped-claims-${defect.name}`,
            bearer(stripSignature(identity.mintToken({ claims: defect.claims }))),
            defect.codes,
          ),
        ),
      ),
      fc
        .constantFrom<unknown>("none", "HS256", "RS512", "")
        .map((alg) =>
          forgery("stripped-alg-swap", bearer(stripSignature(identity.mintToken({ header: { alg } })))),
        ),
    );
  }
  return fc.oneof(...categories);
}

async function attempt(
  auth: Authenticator,
  header: string | undefined,
): Promise<ScheduledTaskError | "accepted"> {
  try {
    await auth.authenticate(header);
    return "accepted";
  } catch (error) {
    if (error instanceof ScheduledTaskError) return error;
    throw error;
  }
}

const totals: Record<AuthMode, { tried: number; accepted: number; byCategory: Map<string, number> }> = {
  verify: { tried: 0, accepted: 0, byCategory: new Map() },
  "cloud-run": { tried: 0, accepted: 0, byCategory: new Map() },
};

describe("forged tokens", () => {
  it.each<AuthMode>(["verify", "cloud-run"])(
    "when %s mode receives generated forgeries, then none is accepted and each is refused with the right code",
    async (mode) => {
      const auth = createAuthenticator({
        mode,
        audiences: [identity.audience],
        allowedEmails: new Set([identity.email]),
        certsUrl: certs.url,
      });
      // The control: the genuine token is accepted (so refusals below are not a broken setup).
      const genuine = mode === "verify" ? identity.signIdToken() : stripSignature(identity.signIdToken());
      expect((await auth.authenticate(`Bearer ${genuine}`)).email).toBe(identity.email);

      const stats = totals[mode];
      await fc.assert(
        fc.asyncProperty(forgeries(mode), async (forged) => {
          stats.tried += 1;
          stats.byCategory.set(forged.category, (stats.byCategory.get(forged.category) ?? 0) + 1);
          const outcome = await attempt(auth, forged.header);
          if (outcome === "accepted") stats.accepted += 1;
          expect(outcome, `${forged.category} was accepted`).not.toBe("accepted");
          expect(forged.codes, `${forged.category}: ${(outcome as ScheduledTaskError).message}`).toContain(
            (outcome as ScheduledTaskError).code,
          );
        }),
        { numRuns: runs[mode] },
      );

      const byCategory = [...stats.byCategory.entries()].sort(([a], [b]) => a.localeCompare(b));
      console.log(
        `forged tokens, ${mode} mode: ${stats.tried} tried, ${stats.accepted} accepted\n` +
          byCategory.map(([category, count]) => `  ${category}: ${count}`).join("\n"),
      );
      expect(stats.tried).toBeGreaterThanOrEqual(runs[mode]);
      expect(stats.accepted).toBe(0);
      // Certificates were fetched once per mode, not per forgery: unknown kids refetch at most once a
      // minute (a slow machine may cross a minute boundary).
      expect(certs.requests).toBeLessThanOrEqual(2 + Math.ceil((Date.now() - startedAt) / 60_000));
    },
    120_000,
  );

  it("when both corpora ran, then at least 1,000 forgeries were tried and none accepted", () => {
    const tried = totals.verify.tried + totals["cloud-run"].tried;
    const accepted = totals.verify.accepted + totals["cloud-run"].accepted;
    console.log(`forged tokens in total: ${tried} tried, ${accepted} accepted`);
    expect(tried).toBeGreaterThanOrEqual(1000);
    expect(accepted).toBe(0);
    // Every category of forgery was exercised.
    for (const category of [
      "signature-bit-flip",
      "alg-swap",
      "kid-missing",
      "kid-unknown",
      "truncated",
      "padded",
      "base64-garbage",
      "stripped",
      "claims-audience",
      "claims-issuer",
      "claims-expired",
      "claims-email-not-allowed",
    ]) {
      expect(totals.verify.byCategory.get(category) ?? 0, category).toBeGreaterThan(0);
    }
  });
});
