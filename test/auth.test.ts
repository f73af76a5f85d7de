/**
 * The function's token check, against a real loopback certificates server (real HTTP) serving a
 * development key generated here; fetches are counted by that server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthConfig, AuthMode } from "../functions/core/config/auth-config.js";
import type { Authenticator } from "../functions/gcp/auth.js";
import { forgeToken, publicKeyPemOf } from "./helpers/forged-tokens.js";
import { cacheSecondsOf, createAuthenticator } from "../functions/gcp/auth.js";
import { parseAuthEnv } from "../functions/core/config/function-config.js";
import { googleCertsUrl } from "../functions/core/config/environment.js";
import { ScheduledTaskError } from "../functions/core/errors.js";
import type { ErrorCode } from "../functions/core/errors.js";
import { createLogger } from "../functions/core/log.js";
import type { CertsServer, DevIdentity, TokenSpec } from "../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";

let identity: DevIdentity;
/** Another key pair under the same kid: what a forger without Google's key has. */
let impostor: DevIdentity;
let certs: CertsServer;

beforeAll(async () => {
  identity = createDevIdentity({ audience: "https://scheduled-tasks-abc123-ew.a.run.app" });
  impostor = createDevIdentity({ kid: identity.kid, audience: identity.audience });
  certs = await serveCerts(identity);
});

afterAll(async () => {
  await certs?.close();
});

function configFor(overrides: Partial<AuthConfig> = {}): AuthConfig {
  return {
    mode: "verify",
    audiences: [identity.audience],
    allowedEmails: new Set([identity.email]),
    certsUrl: certs.url,
    ...overrides,
  };
}

function authenticator(
  overrides: Partial<AuthConfig> = {},
  deps: Parameters<typeof createAuthenticator>[1] = {},
) {
  return createAuthenticator(configFor(overrides), deps);
}

async function refusal(auth: Authenticator, header: string | undefined): Promise<ScheduledTaskError> {
  const outcome = await auth.authenticate(header).then(
    (caller) => ({ caller }),
    (error: unknown) => ({ error }),
  );
  if ("caller" in outcome) throw new Error(`accepted: ${JSON.stringify(outcome.caller)}`);
  expect(outcome.error).toBeInstanceOf(ScheduledTaskError);
  return outcome.error as ScheduledTaskError;
}

const bearer = (token: string): string => `Bearer ${token}`;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe("authenticate in verify mode", () => {
  it("when the token is valid, then it returns the caller's email and subject", async () => {
    const caller = await authenticator().authenticate(bearer(identity.signIdToken()));
    expect(caller).toEqual({ email: identity.email, subject: identity.subject, operator: false });
  });

  it.each([
    ["the audience is configured with a trailing slash", { audiences: ["AUD/"] }, {}],
    ["the token's audience has a trailing slash", {}, { aud: "AUD/" }],
    ["the token's audience is an array holding only ours", {}, { aud: ["AUD", "AUD/"] }],
    [
      "the token's audience is an array of configured audiences",
      { audiences: ["https://elsewhere.example", "AUD"] },
      { aud: ["https://elsewhere.example", "AUD"] },
    ],
    ["the issuer is accounts.google.com without a scheme", {}, { iss: "accounts.google.com" }],
    ["the email differs from the allowed one only in case", {}, { email: "EMAIL" }],
    ["the token expired within the clock skew", {}, { exp: -30 }],
    ["the token is issued within the clock skew in the future", {}, { iat: 30, nbf: 30 }],
    ["several audiences are configured", { audiences: ["https://elsewhere.example", "AUD"] }, {}],
  ] as const)("when %s, then it is accepted", async (_case, configOverrides, claimOverrides) => {
    const audience = identity.audience;
    const resolve = (value: unknown): unknown =>
      value === "AUD"
        ? audience
        : value === "AUD/"
          ? `${audience}/`
          : Array.isArray(value)
            ? value.map(resolve)
            : value;
    const config: Partial<AuthConfig> = {};
    if ("audiences" in configOverrides)
      config.audiences = configOverrides.audiences.map((a) => resolve(a) as string);
    const claims: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(claimOverrides)) {
      if (name === "exp" || name === "iat" || name === "nbf") claims[name] = nowSeconds() + (value as number);
      else if (name === "email") claims.email = identity.email.toUpperCase();
      else claims[name] = resolve(value);
    }
    if ("exp" in claimOverrides) claims.iat = nowSeconds() - 3600;
    const caller = await authenticator(config).authenticate(bearer(identity.signIdToken(claims)));
    // As received, not folded.
    expect(caller.email).toBe(claims.email ?? identity.email);
  });

  const hour = 3600;
  /** [case, token (or header), expected code, message pattern] */
  const refusals: Array<[string, () => string | undefined, ErrorCode, RegExp]> = [
    ["there is no Authorization header", () => undefined, "unauthenticated", /missing Authorization header/],
    ["the header is empty", () => "", "unauthenticated", /missing Authorization header/],
    [
      "the scheme is Basic",
      () => "Basic dXNlcjpwYXNz",
      "unauthenticated",
      /not of the form 'Bearer <token>'/,
    ],
    ["Bearer has no token", () => "Bearer ", "unauthenticated", /not of the form/],
    ["the token is not a JWT", () => "Bearer not-a-token", "unauthenticated", /not a JWT/],
    [
      "the token has two parts",
      () => bearer(identity.signIdToken().split(".").slice(0, 2).join(".")),
      "unauthenticated",
      /not a JWT/,
    ],
    [
      "the token has four parts",
      () => bearer(`${identity.signIdToken()}.AAAA`),
      "unauthenticated",
      /not a JWT/,
    ],
    [
      "the header is not JSON",
      () => bearer(`bm90IGpzb24.${identity.signIdToken().split(".")[1]}.AAAA`),
      "unauthenticated",
      /header is not/,
    ],
    [
      "the payload is a JSON array",
      () =>
        bearer(`${identity.signIdToken().split(".")[0]}.${Buffer.from("[1]").toString("base64url")}.AAAA`),
      "unauthenticated",
      /payload is not/,
    ],
    [
      "the header has no kid",
      () => bearer(identity.mintToken({ header: { kid: undefined } })),
      "unauthenticated",
      /no kid/,
    ],
    [
      "the kid is unknown",
      () => bearer(identity.mintToken({ header: { kid: "0000000000" } })),
      "unauthenticated",
      /unknown key/,
    ],
    [
      "the token is signed by another key under our kid",
      () => bearer(impostor.signIdToken()),
      "unauthenticated",
      /signature is not valid/,
    ],
    [
      "the signature belongs to another token",
      () =>
        bearer(
          `${identity.signIdToken({ sub: "x" }).split(".").slice(0, 2).join(".")}.${identity.signIdToken().split(".")[2]}`,
        ),
      "unauthenticated",
      /signature is not valid/,
    ],
    [
      "alg is none with no signature",
      () => bearer(forgeToken(identity, { header: { alg: "none" }, signature: { kind: "none" } })),
      "unauthenticated",
      /algorithm "none" is not accepted/,
    ],
    [
      "alg is None with a real signature",
      () => bearer(identity.mintToken({ header: { alg: "None" } })),
      "unauthenticated",
      /algorithm "None"/,
    ],
    [
      "alg is missing",
      () => bearer(identity.mintToken({ header: { alg: undefined } })),
      "unauthenticated",
      /algorithm undefined is not accepted/,
    ],
    [
      "HS256 is keyed with the public key PEM",
      () =>
        bearer(
          forgeToken(identity, {
            header: { alg: "HS256" },
            signature: { kind: "hs256", secret: publicKeyPemOf(identity) },
          }),
        ),
      "unauthenticated",
      /algorithm "HS256"/,
    ],
    [
      "HS256 is keyed with the certificate PEM",
      () =>
        bearer(
          forgeToken(identity, {
            header: { alg: "HS256" },
            signature: { kind: "hs256", secret: identity.certificatePem },
          }),
        ),
      "unauthenticated",
      /algorithm "HS256"/,
    ],
    [
      "alg is RS512",
      () => bearer(identity.mintToken({ header: { alg: "RS512" } })),
      "unauthenticated",
      /algorithm "RS512"/,
    ],
    [
      "the header has crit",
      () => bearer(identity.mintToken({ header: { crit: ["exp"] } })),
      "unauthenticated",
      /critical extensions/,
    ],
    [
      "the signature was removed (marker)",
      () => bearer(stripSignature(identity.signIdToken())),
      "unauthenticated",
      /no signature/,
    ],
    [
      "the signature was removed (empty)",
      () => bearer(stripSignature(identity.signIdToken(), "")),
      "unauthenticated",
      /no signature/,
    ],
    [
      "the signature is padded with =",
      () => bearer(`${identity.signIdToken()}=`),
      "unauthenticated",
      /not a JWT/,
    ],
    [
      "the signature is spelled non-canonically",
      () => bearer(nonCanonical(identity.signIdToken())),
      "unauthenticated",
      /not canonical/,
    ],
    [
      "the token expired",
      () => bearer(identity.signIdToken({ iat: nowSeconds() - 2 * hour, exp: nowSeconds() - hour })),
      "unauthenticated",
      /expired at/,
    ],
    [
      "the token expired just beyond the skew",
      () => bearer(identity.signIdToken({ iat: nowSeconds() - hour, exp: nowSeconds() - 62 })),
      "unauthenticated",
      /expired at/,
    ],
    [
      "the token has no exp",
      () => bearer(identity.signIdToken({ exp: undefined })),
      "unauthenticated",
      /no valid expiry/,
    ],
    [
      "exp is a string",
      () => bearer(identity.mintToken({ claims: { exp: String(nowSeconds() + hour) } })),
      "unauthenticated",
      /no valid expiry/,
    ],
    [
      "the token has no iat",
      () => bearer(identity.signIdToken({ iat: undefined })),
      "unauthenticated",
      /no valid issue time/,
    ],
    [
      "the token is not valid yet (nbf)",
      () => bearer(identity.signIdToken({ nbf: nowSeconds() + 600 })),
      "unauthenticated",
      /not valid before/,
    ],
    [
      "the token is issued in the future (iat)",
      () => bearer(identity.signIdToken({ iat: nowSeconds() + 600, exp: nowSeconds() + 4000 })),
      "unauthenticated",
      /issued in the future/,
    ],
    [
      "the token lives longer than a day",
      () => bearer(identity.signIdToken({ exp: nowSeconds() + 30 * 86_400 })),
      "unauthenticated",
      /lifetime/,
    ],
    [
      "the audience is another service",
      () => bearer(identity.signIdToken({ aud: "https://other-service.a.run.app" })),
      "unauthenticated",
      /audience "https:\/\/other-service.a.run.app" is not/,
    ],
    [
      "the audience extends ours with a path",
      () => bearer(identity.signIdToken({ aud: `${identity.audience}/health` })),
      "unauthenticated",
      /audience/,
    ],
    [
      "the audience is an array holding ours and another",
      () => bearer(identity.signIdToken({ aud: [identity.audience, "https://attacker.example"] })),
      "unauthenticated",
      /audience \["https:.*","https:\/\/attacker.example"\] lists audiences besides this function's/,
    ],
    [
      "the audience is an array holding ours and a number",
      () => bearer(identity.signIdToken({ aud: [identity.audience, 7] as unknown as string[] })),
      "unauthenticated",
      /lists audiences besides/,
    ],
    [
      "the email matches the allowed one only when folded by toLowerCase (KELVIN SIGN for k)",
      () => bearer(identity.signIdToken({ email: identity.email.replace("k", "\u212a") })),
      "forbidden",
      /is not allowed/,
    ],
    [
      "the audience is missing",
      () => bearer(identity.signIdToken({ aud: undefined })),
      "unauthenticated",
      /no audience/,
    ],
    [
      "the audience is an empty array",
      () => bearer(identity.signIdToken({ aud: [] })),
      "unauthenticated",
      /no audience/,
    ],
    [
      "the issuer is not Google",
      () => bearer(identity.signIdToken({ iss: "https://evil.example" })),
      "unauthenticated",
      /issuer "https:\/\/evil.example" is not Google/,
    ],
    [
      "the issuer is Google over http",
      () => bearer(identity.signIdToken({ iss: "http://accounts.google.com" })),
      "unauthenticated",
      /issuer/,
    ],
    [
      "the issuer is missing",
      () => bearer(identity.signIdToken({ iss: undefined })),
      "unauthenticated",
      /no issuer/,
    ],
    [
      "the subject is missing",
      () => bearer(identity.signIdToken({ sub: undefined })),
      "unauthenticated",
      /no subject/,
    ],
    [
      "the email is missing",
      () => bearer(identity.signIdToken({ email: undefined })),
      "unauthenticated",
      /no email claim/,
    ],
    [
      "the email is not allowed",
      () => bearer(identity.signIdToken({ email: "someone-else@project.iam.gserviceaccount.com" })),
      "forbidden",
      /caller "someone-else@project.iam.gserviceaccount.com" is not allowed/,
    ],
    [
      "the email is allowed plus a suffix",
      () => bearer(identity.signIdToken({ email: `${identity.email}.evil.example` })),
      "forbidden",
      /not allowed/,
    ],
    [
      "email_verified is false",
      () => bearer(identity.signIdToken({ email_verified: false })),
      "forbidden",
      /not verified/,
    ],
    [
      "email_verified is missing",
      () => bearer(identity.mintToken({ claims: { email_verified: undefined } })),
      "forbidden",
      /not verified/,
    ],
    [
      "email_verified is the string true",
      () => bearer(identity.mintToken({ claims: { email_verified: "true" } })),
      "forbidden",
      /not verified/,
    ],
  ];

  it.each(refusals)("when %s, then it is refused", async (_case, makeHeader, code, message) => {
    const header = makeHeader();
    const error = await refusal(authenticator(), header);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    // The token never comes back to the caller, not even its signature.
    const token = header?.replace(/^\S+\s*/, "") ?? "";
    for (const part of token.split(".")) {
      if (part.length > 8) expect(error.message).not.toContain(part);
    }
  });
});

/** The same signature bytes spelled differently: the unused low bits of the last base64url character. */
function nonCanonical(token: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = token.at(-1) as string;
  // 256 signature bytes in 342 characters leave 4 unused bits in the last one.
  const flipped = alphabet[alphabet.indexOf(last) ^ 1] as string;
  const altered = `${token.slice(0, -1)}${flipped}`;
  const signature = (part: string): string =>
    Buffer.from(part.split(".")[2] as string, "base64url").toString("hex");
  expect(signature(altered)).toBe(signature(token));
  return altered;
}

describe("authenticate in cloud-run mode", () => {
  it("when Cloud Run removed the signature of a token with valid claims, then it is accepted without fetching certificates", async () => {
    const server = await serveCerts(identity);
    try {
      const auth = authenticator({ mode: "cloud-run", certsUrl: server.url });
      const caller = await auth.authenticate(bearer(stripSignature(identity.signIdToken())));
      expect(caller.email).toBe(identity.email);
      const emptied = await auth.authenticate(bearer(stripSignature(identity.signIdToken(), "")));
      expect(emptied.email).toBe(identity.email);
      expect(server.requests).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("when a token still carries its signature, then it is verified against the certificates", async () => {
    const server = await serveCerts(identity);
    try {
      const auth = authenticator({ mode: "cloud-run", certsUrl: server.url });
      expect((await auth.authenticate(bearer(identity.signIdToken()))).email).toBe(identity.email);
      expect(server.requests).toBe(1);
      const forged = await refusal(auth, bearer(impostor.signIdToken()));
      expect(forged.code).toBe("unauthenticated");
      expect(forged.message).toMatch(/signature is not valid/);
    } finally {
      await server.close();
    }
  });

  it.each<[string, TokenSpec, ErrorCode, RegExp]>([
    [
      "expired",
      { claims: { iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 } },
      "unauthenticated",
      /expired/,
    ],
    ["for another audience", { claims: { aud: "https://other.example" } }, "unauthenticated", /audience/],
    ["from another issuer", { claims: { iss: "https://evil.example" } }, "unauthenticated", /issuer/],
    ["without an email", { claims: { email: undefined } }, "unauthenticated", /no email/],
    ["for a caller not allowed", { claims: { email: "intruder@example.com" } }, "forbidden", /not allowed/],
    ["with an unverified email", { claims: { email_verified: false } }, "forbidden", /not verified/],
    ["with alg none", { header: { alg: "none" } }, "unauthenticated", /algorithm "none"/],
  ])("when a stripped token is %s, then it is refused on its claims", async (_case, spec, code, message) => {
    const token = stripSignature(identity.mintToken(spec));
    const error = await refusal(authenticator({ mode: "cloud-run" }), bearer(token));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });
});

describe("certificates", () => {
  it("when many first requests arrive at once, then they share one fetch", async () => {
    const server = await serveCerts(identity, { delayMs: 100 });
    try {
      const auth = authenticator({ certsUrl: server.url });
      const callers = await Promise.all(
        Array.from({ length: 50 }, () => auth.authenticate(bearer(identity.signIdToken()))),
      );
      expect(callers).toHaveLength(50);
      expect(server.requests).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("when the cache is warm, then requests fetch nothing until max-age has passed", async () => {
    const server = await serveCerts(identity, { maxAgeSeconds: 600 });
    let now = Date.now();
    try {
      const auth = authenticator({ certsUrl: server.url }, { now: () => now });
      const token = bearer(identity.signIdToken());
      for (let i = 0; i < 200; i += 1) await auth.authenticate(token);
      expect(server.requests).toBe(1);
      now += 599_000;
      await auth.authenticate(token);
      expect(server.requests).toBe(1);
      now += 2000;
      await auth.authenticate(token);
      expect(server.requests).toBe(2);
    } finally {
      await server.close();
    }
  });

  it("when Google rotates its keys, then an unknown kid refetches at most once a minute", async () => {
    const rotated = createDevIdentity({ audience: identity.audience });
    const server = await serveCerts(identity);
    let now = Date.now();
    try {
      const auth = authenticator({ certsUrl: server.url }, { now: () => now });
      await auth.authenticate(bearer(identity.signIdToken()));
      expect(server.requests).toBe(1);
      server.setIdentities([identity, rotated]);
      now += 61_000;
      expect((await auth.authenticate(bearer(rotated.signIdToken()))).email).toBe(identity.email);
      expect(server.requests).toBe(2);
      // A flood of made-up kids costs no fetch within the minute...
      for (let i = 0; i < 20; i += 1) {
        const error = await refusal(auth, bearer(identity.mintToken({ header: { kid: `made-up-${i}` } })));
        expect(error.message).toMatch(/unknown key/);
      }
      expect(server.requests).toBe(2);
      // ...and one after it.
      now += 61_000;
      await refusal(auth, bearer(identity.mintToken({ header: { kid: "made-up-again" } })));
      await refusal(auth, bearer(identity.mintToken({ header: { kid: "made-up-again" } })));
      expect(server.requests).toBe(3);
    } finally {
      await server.close();
    }
  });

  it("when the certificates cannot be fetched and none are cached, then 503 until they can", async () => {
    const server = await serveCerts(identity);
    let now = Date.now();
    const lines: string[] = [];
    try {
      server.setFailure(500);
      const auth = authenticator(
        { certsUrl: server.url },
        { now: () => now, log: createLogger({}, (line) => lines.push(line)) },
      );
      const token = bearer(identity.signIdToken());
      const error = await refusal(auth, token);
      expect(error.code).toBe("unavailable");
      expect(error.status).toBe(503);
      expect(error.message).toMatch(/certificates could not be fetched/);
      expect(String((error.cause as Error).message)).toMatch(/HTTP 500/);
      // Within the back-off, requests fail fast without hammering the endpoint.
      for (let i = 0; i < 10; i += 1) expect((await refusal(auth, token)).code).toBe("unavailable");
      expect(server.requests).toBe(1);
      server.setFailure(undefined);
      now += 6000;
      expect((await auth.authenticate(token)).email).toBe(identity.email);
      expect(server.requests).toBe(2);
      expect(lines.join("\n")).not.toContain(token.slice(7));
      expect(lines.some((line) => /Could not fetch the token-signing certificates/.test(line))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("when the certificates server is gone, then 503", async () => {
    const server = await serveCerts(identity);
    const url = server.url;
    await server.close();
    const error = await refusal(authenticator({ certsUrl: url }), bearer(identity.signIdToken()));
    expect(error.code).toBe("unavailable");
  });

  it("when a refresh fails after expiry, then the cached certificates are still used", async () => {
    const server = await serveCerts(identity, { maxAgeSeconds: 60 });
    let now = Date.now();
    try {
      const auth = authenticator({ certsUrl: server.url }, { now: () => now });
      const token = bearer(identity.signIdToken());
      await auth.authenticate(token);
      server.setFailure(503);
      now += 120_000;
      expect((await auth.authenticate(token)).email).toBe(identity.email);
      expect(server.requests).toBe(2);
      // A kid the stale copy lacks is an outage, not a forgery.
      const other = createDevIdentity({ audience: identity.audience });
      expect((await refusal(auth, bearer(other.signIdToken()))).code).toBe("unavailable");
    } finally {
      await server.close();
    }
  });

  it("when the certificates are served as a JWK set, then tokens verify against them", async () => {
    const auth = authenticator({ certsUrl: certs.jwksUrl });
    expect((await auth.authenticate(bearer(identity.signIdToken()))).subject).toBe(identity.subject);
    expect((await refusal(auth, bearer(impostor.signIdToken()))).message).toMatch(/signature is not valid/);
  });

  it("when the certificates endpoint answers with no usable key, then 503", async () => {
    const server = await serveCerts([]);
    try {
      const error = await refusal(authenticator({ certsUrl: server.url }), bearer(identity.signIdToken()));
      expect(error.code).toBe("unavailable");
      expect(String((error.cause as Error).message)).toMatch(/no usable RSA certificate/);
    } finally {
      await server.close();
    }
  });

  it.each([
    ["public, max-age=19204, must-revalidate, no-transform", null, 19204],
    ["max-age=19204", "204", 19000],
    ["no-cache", null, 300],
    [null, null, 300],
    ["max-age=0", null, 60],
    ["max-age=99999999", null, 86400],
  ])(
    "when Cache-Control is %s and Age %s, then the certificates are kept %d s",
    (cacheControl, age, seconds) => {
      expect(cacheSecondsOf(cacheControl, age)).toBe(seconds);
    },
  );
});

describe("parseAuthEnv", () => {
  const base = {
    AUTH_AUDIENCE: "https://scheduled-tasks-abc123-ew.a.run.app",
    AUTH_ALLOWED_EMAILS: "scheduler-invoker@project.iam.gserviceaccount.com",
  };

  it.each<
    [
      string,
      Record<string, string | undefined>,
      { mode: AuthMode; audiences: string[]; emails: string[]; certsUrl: string },
    ]
  >([
    [
      "only the required variables are set",
      base,
      {
        mode: "verify",
        audiences: [base.AUTH_AUDIENCE],
        emails: [base.AUTH_ALLOWED_EMAILS],
        certsUrl: googleCertsUrl,
      },
    ],
    [
      "AUTH_MODE is cloud-run",
      { ...base, AUTH_MODE: "cloud-run" },
      {
        mode: "cloud-run",
        audiences: [base.AUTH_AUDIENCE],
        emails: [base.AUTH_ALLOWED_EMAILS],
        certsUrl: googleCertsUrl,
      },
    ],
    [
      "AUTH_MODE is empty",
      { ...base, AUTH_MODE: "" },
      {
        mode: "verify",
        audiences: [base.AUTH_AUDIENCE],
        emails: [base.AUTH_ALLOWED_EMAILS],
        certsUrl: googleCertsUrl,
      },
    ],
    [
      "lists have spaces, case and empty entries",
      {
        ...base,
        AUTH_AUDIENCE: " https://a.example/ , https://b.example,",
        AUTH_ALLOWED_EMAILS: "A@Example.com, ,b@example.com ",
      },
      {
        mode: "verify",
        audiences: ["https://a.example/", "https://b.example"],
        emails: ["a@example.com", "b@example.com"],
        certsUrl: googleCertsUrl,
      },
    ],
    [
      "an email holds a look-alike of an ASCII letter",
      { ...base, AUTH_ALLOWED_EMAILS: "Scheduler-\u212Aey@project.iam.gserviceaccount.com" },
      {
        mode: "verify",
        audiences: [base.AUTH_AUDIENCE],
        // Only A-Z are lowered: the KELVIN SIGN stays what it is, and matches no "k".
        emails: ["scheduler-\u212Aey@project.iam.gserviceaccount.com"],
        certsUrl: googleCertsUrl,
      },
    ],
    [
      "AUTH_CERTS_URL is a loopback http URL",
      { ...base, AUTH_CERTS_URL: "http://127.0.0.1:9999/oauth2/v1/certs" },
      {
        mode: "verify",
        audiences: [base.AUTH_AUDIENCE],
        emails: [base.AUTH_ALLOWED_EMAILS],
        certsUrl: "http://127.0.0.1:9999/oauth2/v1/certs",
      },
    ],
    [
      "AUTH_CERTS_URL is Google's JWK URL",
      { ...base, AUTH_CERTS_URL: "https://www.googleapis.com/oauth2/v3/certs" },
      {
        mode: "verify",
        audiences: [base.AUTH_AUDIENCE],
        emails: [base.AUTH_ALLOWED_EMAILS],
        certsUrl: "https://www.googleapis.com/oauth2/v3/certs",
      },
    ],
  ])("when %s, then the configuration is read", (_case, env, expected) => {
    const { config, problems } = parseAuthEnv(env);
    expect(problems).toEqual([]);
    expect(config?.mode).toBe(expected.mode);
    expect(config?.audiences).toEqual(expected.audiences);
    expect([...(config?.allowedEmails ?? [])]).toEqual(expected.emails);
    expect(config?.certsUrl).toBe(expected.certsUrl);
    expect(config?.clockSkewSeconds).toBe(60);
  });

  it.each<[string, Record<string, string | undefined>, RegExp[]]>([
    ["nothing is set", {}, [/^AUTH_AUDIENCE is not set/, /^AUTH_ALLOWED_EMAILS is not set/]],
    [
      "the audience is missing",
      { AUTH_ALLOWED_EMAILS: base.AUTH_ALLOWED_EMAILS },
      [/^AUTH_AUDIENCE is not set/],
    ],
    [
      "the audience is only commas and spaces",
      { ...base, AUTH_AUDIENCE: " , ," },
      [/^AUTH_AUDIENCE is not set/],
    ],
    [
      "the allowed emails are missing",
      { AUTH_AUDIENCE: base.AUTH_AUDIENCE },
      [/^AUTH_ALLOWED_EMAILS is not set/],
    ],
    [
      "an allowed email is malformed",
      { ...base, AUTH_ALLOWED_EMAILS: "ok@example.com,not-an-email" },
      [/^AUTH_ALLOWED_EMAILS entry "not-an-email" is not an email address$/],
    ],
    [
      "AUTH_MODE is unknown",
      { ...base, AUTH_MODE: "trust-everyone" },
      [/^AUTH_MODE must be "verify" or "cloud-run", not "trust-everyone"$/],
    ],
    [
      "AUTH_CERTS_URL is not a URL",
      { ...base, AUTH_CERTS_URL: "certs.json" },
      [/^AUTH_CERTS_URL "certs.json" is not a URL$/],
    ],
    [
      "AUTH_CERTS_URL is plain http to another host",
      { ...base, AUTH_CERTS_URL: "http://certs.example/oauth2/v1/certs" },
      [/must use https/],
    ],
    [
      "AUTH_CERTS_URL is a file URL",
      { ...base, AUTH_CERTS_URL: "file:///etc/certs.json" },
      [/must use https/],
    ],
    [
      "everything is wrong",
      { AUTH_MODE: "off", AUTH_CERTS_URL: "ftp://x" },
      [/^AUTH_MODE/, /^AUTH_AUDIENCE/, /^AUTH_ALLOWED_EMAILS/, /^AUTH_CERTS_URL/],
    ],
  ])("when %s, then there is no configuration and each problem is named", (_case, env, expected) => {
    const { config, problems } = parseAuthEnv(env);
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(expected.length);
    expected.forEach((pattern, i) => expect(problems[i]).toMatch(pattern));
  });
});
