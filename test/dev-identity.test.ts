/**
 * The development identity and its DER encoder: the certificate must be one OpenSSL (through Node's
 * X509Certificate) reads and verifies, served the way Google serves its certificates.
 */
import { X509Certificate, createPublicKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";
import { derLength, objectIdentifier, smallInteger, time, unsignedInteger } from "../scripts/local/x509.js";

const hex = (bytes: Buffer): string => bytes.toString("hex");

describe("DER encoding", () => {
  it.each([
    [0, "00"],
    [127, "7f"],
    [128, "8180"],
    [255, "81ff"],
    [256, "820100"],
    [65_536, "83010000"],
  ])("when a length is %d, then it is encoded as %s", (length, expected) => {
    expect(hex(derLength(length))).toBe(expected);
  });

  it.each([
    ["1.2.840.113549.1.1.11", "06092a864886f70d01010b"],
    ["2.5.4.3", "0603550403"],
    ["1.2.840.113549.1.1.1", "06092a864886f70d010101"],
  ])("when the object identifier is %s, then it is encoded as %s", (dotted, expected) => {
    expect(hex(objectIdentifier(dotted))).toBe(expected);
  });

  it.each([
    ["00", "020100"],
    ["7f", "02017f"],
    ["80", "02020080"],
    ["000001", "020101"],
    ["ff00", "020300ff00"],
  ])("when an unsigned integer is %s, then it is encoded minimally as %s", (bytes, expected) => {
    expect(hex(unsignedInteger(Buffer.from(bytes, "hex")))).toBe(expected);
  });

  it("when a small integer is 2, then it is encoded as 020102", () => {
    expect(hex(smallInteger(2))).toBe("020102");
  });

  it("when a date is before 2050, then it is a UTCTime, and from 2050 a GeneralizedTime", () => {
    expect(time(new Date("2026-11-29T04:05:06Z")).toString("latin1")).toBe("\x17\x0d261129040506Z");
    expect(time(new Date("2050-01-01T00:00:00Z")).toString("latin1")).toBe("\x18\x0f20500101000000Z");
  });
});

describe("development identity", () => {
  it("when an identity is created, then its certificate is a valid self-signed X.509 certificate of its key", () => {
    const identity = createDevIdentity();
    const certificate = new X509Certificate(identity.certificatePem);
    expect(certificate.verify(identity.publicKey)).toBe(true);
    expect(certificate.verify(createDevIdentity().publicKey)).toBe(false);
    expect(certificate.subject).toBe(certificate.issuer);
    expect(certificate.subject).toMatch(/^CN=development token signer /);
    expect(certificate.publicKey.equals(identity.publicKey)).toBe(true);
    expect(new Date(certificate.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(certificate.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
    expect(identity.certs()).toEqual({ [identity.kid]: identity.certificatePem });
  });

  it("when a token is signed, then it is a Google-like RS256 ID token that the certificate verifies", () => {
    const identity = createDevIdentity({
      email: "invoker@project.iam.gserviceaccount.com",
      audience: "https://x.example",
    });
    const token = identity.signIdToken({ sub: "42" });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({
      alg: "RS256",
      kid: identity.kid,
      typ: "JWT",
    });
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    expect(claims).toMatchObject({
      iss: "https://accounts.google.com",
      aud: "https://x.example",
      sub: "42",
      email: "invoker@project.iam.gserviceaccount.com",
      email_verified: true,
    });
    expect(claims.exp - claims.iat).toBe(3600);
    const key = createPublicKey(identity.certificatePem);
    expect(
      verify("sha256", Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, "base64url")),
    ).toBe(true);
    expect(stripSignature(token)).toBe(`${header}.${payload}.SIGNATURE_REMOVED_BY_GOOGLE`);
  });

  it("when the certificates are served, then they come as Google's PEM JSON and as a JWK set, with max-age", async () => {
    const first = createDevIdentity();
    const second = createDevIdentity();
    const server = await serveCerts([first, second], { maxAgeSeconds: 1234 });
    try {
      const pem = await fetch(server.url);
      expect(pem.status).toBe(200);
      expect(pem.headers.get("cache-control")).toBe("public, max-age=1234, must-revalidate, no-transform");
      expect(await pem.json()).toEqual({
        [first.kid]: first.certificatePem,
        [second.kid]: second.certificatePem,
      });
      const jwks = (await (await fetch(server.jwksUrl)).json()) as {
        keys: Array<{ kid: string; kty: string }>;
      };
      expect(jwks.keys.map((key) => [key.kid, key.kty])).toEqual([
        [first.kid, "RSA"],
        [second.kid, "RSA"],
      ]);
      server.setFailure(503);
      expect((await fetch(server.url)).status).toBe(503);
      expect(server.requests).toBe(3);
    } finally {
      await server.close();
    }
  });
});
