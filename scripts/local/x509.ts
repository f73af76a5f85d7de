/**
 * A self-signed X.509 certificate for an RSA key, for the development identity: Node can parse and
 * verify certificates but not create them, `openssl` is not on every CI machine, and the few DER
 * structures a certificate needs are smaller than a certificate library.
 * Not part of the deployed function.
 */
import { randomBytes, sign } from "node:crypto";
import type { KeyObject } from "node:crypto";

// DER (X.690): tag, length, content.

export function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

export const sequence = (...items: Buffer[]): Buffer => der(0x30, ...items);
export const set = (...items: Buffer[]): Buffer => der(0x31, ...items);
const nullValue = (): Buffer => der(0x05);
const utf8String = (text: string): Buffer => der(0x0c, Buffer.from(text, "utf8"));
/** A BIT STRING of whole bytes (no unused bits). */
const bitString = (bytes: Buffer): Buffer => der(0x03, Buffer.from([0]), bytes);
/** An explicitly tagged, constructed context-specific field: `[n] EXPLICIT`. */
export const explicit = (n: number, item: Buffer): Buffer => der(0xa0 | n, item);

/** A non-negative INTEGER from its unsigned big-endian bytes (minimal, with a sign byte if needed). */
export function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const minimal = bytes.subarray(start);
  const needsSignByte = minimal.length === 0 || (minimal[0] as number) >= 0x80;
  return der(0x02, needsSignByte ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
    throw new RangeError(`unsupported ${value}`);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return unsignedInteger(bytes);
}

export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split(".").map((arc) => Number.parseInt(arc, 10));
  if (arcs.length < 2 || arcs.some((arc) => !Number.isSafeInteger(arc) || arc < 0)) {
    throw new RangeError(`not an object identifier: ${dotted}`);
  }
  const [first, second, ...rest] = arcs as [number, number, ...number[]];
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128 = [arc % 128];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      base128.unshift((value % 128) | 0x80);
    }
    bytes.push(...base128);
  }
  return der(0x06, Buffer.from(bytes));
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050, always UTC with seconds. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return der(0x17, Buffer.from(digits.slice(2), "ascii"));
  return der(0x18, Buffer.from(digits, "ascii"));
}

const oid = {
  sha256WithRsaEncryption: "1.2.840.113549.1.1.11",
  commonName: "2.5.4.3",
};

const sha256WithRsa = (): Buffer => sequence(objectIdentifier(oid.sha256WithRsaEncryption), nullValue());
const name = (commonName: string): Buffer =>
  sequence(set(sequence(objectIdentifier(oid.commonName), utf8String(commonName))));

interface CertificateOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A version 3 certificate for `publicKey`, issued to and by `commonName`, signed by `privateKey`. */
export function selfSignedCertificate(
  publicKey: KeyObject,
  privateKey: KeyObject,
  options: CertificateOptions,
): string {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01; // positive and 16 bytes long (RFC 5280: at most 20)
  const tbsCertificate = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    sha256WithRsa(),
    name(options.commonName),
    sequence(time(options.notBefore), time(options.notAfter)),
    name(options.commonName),
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = sign("sha256", tbsCertificate, privateKey);
  const certificate = sequence(tbsCertificate, sha256WithRsa(), bitString(signature));
  const base64 = certificate.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${base64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}
