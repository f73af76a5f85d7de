/**
 * The strict-reading rules on their own: the Content-Type charset rule agrees with the parser the
 * framework decodes bodies with, and the repeated-key scan agrees with JSON.parse on what a key is.
 */
import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  contentTypeProblem,
  jsonBodyProblem,
  repeatedHeaderProblem,
} from "../functions/gcp/strict-request.js";

// The Content-Type parser of the framework's own body-parser, found the way the framework finds it.
const requireFromFramework = createRequire(
  createRequire(import.meta.url).resolve("@google-cloud/functions-framework"),
);
const requireFromBodyParser = createRequire(requireFromFramework.resolve("body-parser"));
const frameworkContentType = requireFromBodyParser("content-type") as {
  parse(header: string): { type: string; parameters: Record<string, string | undefined> };
};

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");

describe("contentTypeProblem", () => {
  it.each([
    undefined,
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON;CHARSET=UTF-8",
    'application/json ;\tcharset="utf-8"',
    "application/json; charset=utf-8; charset=UTF-8",
    "application/json; foo=bar",
    "application/json;",
    "text/plain",
  ])("when the header is %s, then it is accepted", (header) => {
    expect(contentTypeProblem(header)).toBeUndefined();
  });

  it.each([
    ["application/json; charset=utf-16", /charset "utf-16"/],
    ['application/json; charset="UTF-7"', /charset "UTF-7"/],
    ["application/json; charset=utf8", /charset "utf8"/],
    ["application/json; charset=utf-8; charset=latin1", /charset "latin1"/],
    ['application/json; charset="utf\\-16"', /charset "utf-16"/],
    ["application/json; charset=", /malformed/],
    ["application/json; charset = utf-8", /malformed/],
    ["application/json; charset=utf-8,utf-16", /malformed/],
    ['application/json; charset="utf-8', /malformed/],
    ["application/json charset=utf-16", /malformed/],
    ["application", /malformed/],
    ["", /malformed/],
  ])("when the header is %s, then it is refused", (header, message) => {
    expect(contentTypeProblem(header)).toMatch(message);
  });

  it("when a header is accepted, then the framework's parser reads no charset or UTF-8 from it", () => {
    // Mostly well-formed parameters, now and then a broken piece.
    const mostly = (usual: string, ...odd: string[]): fc.Arbitrary<string> =>
      fc.oneof(
        { weight: 5, arbitrary: fc.constant(usual) },
        { weight: 1, arbitrary: fc.constantFrom(...odd) },
      );
    const parameter = fc
      .tuple(
        mostly("; ", ";", " ;", ";\t", "", ",", ";;"),
        mostly("charset", "Charset", "CHARSET", "foo", "charset ", ""),
        mostly("=", " =", "= ", ""),
        fc.constantFrom(
          "utf-8",
          "UTF-8",
          "utf-16",
          "utf-7",
          "latin1",
          "",
          '"utf-8"',
          '"utf-16"',
          '"utf\\-8"',
          '"utf-8',
          'utf-8"',
          '"utf-8;charset=utf-16"',
          "utf-8 x",
        ),
      )
      .map((parts) => parts.join(""));
    let accepted = 0;
    let refusedForCharset = 0;
    fc.assert(
      fc.property(
        fc.constantFrom("application/json", "text/plain", " application/json ", "application/json\t"),
        fc.array(parameter, { maxLength: 4 }),
        (mediaType, parameters) => {
          const header = `${mediaType}${parameters.join("")}`;
          const problem = contentTypeProblem(header);
          if (problem !== undefined) {
            if (/must be UTF-8/.test(problem)) refusedForCharset += 1;
            return;
          }
          accepted += 1;
          const charset = frameworkContentType.parse(header).parameters.charset;
          expect([undefined, "utf-8"]).toContain(charset?.toLowerCase());
        },
      ),
      { numRuns: 5000 },
    );
    // The generator reached both sides of the rule.
    expect(accepted).toBeGreaterThan(500);
    expect(refusedForCharset).toBeGreaterThan(500);
  });
});

describe("jsonBodyProblem", () => {
  it("when JSON.stringify wrote the body, then nothing repeats", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(jsonBodyProblem(utf8(JSON.stringify(value, null, 1)))).toBeUndefined();
      }),
    );
  });

  it("when an object anywhere repeats a key, in any spelling, then the key is named", () => {
    const spelled = (key: string, escaped: boolean): string =>
      escaped
        ? `"${Array.from({ length: key.length }, (_, i) => `\\u${key.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")}"`
        : JSON.stringify(key);
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.jsonValue(),
        fc.jsonValue(),
        fc.boolean(),
        fc.integer({ min: 0, max: 4 }),
        (key, first, second, escaped, depth) => {
          let text = `{${JSON.stringify(key)}:${JSON.stringify(first)},"\\u0000other":1,${spelled(key, escaped)}:${JSON.stringify(second)}}`;
          for (let level = 0; level < depth; level += 1) {
            text = level % 2 === 0 ? `[0,${text}]` : `{"level${level}":${text}}`;
          }
          expect(() => JSON.parse(text) as unknown).not.toThrow();
          expect(jsonBodyProblem(utf8(text))).toBe(
            `the body repeats the key ${JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}...` : key)} (ambiguous JSON)`,
          );
        },
      ),
    );
  });

  it.each([
    ['{"a":{"b":1},"c":{"b":2}}', "the same key in sibling objects"],
    ['[{"a":1},{"a":1}]', "the same key in objects of one array"],
    ['{"a":1,"b":{"a":1}}', "the same key in a nested object"],
    ['{"a":"{\\"b\\":1,\\"b\\":2}","b":"\\\\"}', "a repeated key inside a string"],
    ['{"e\\u0301":1,"\\u00e9":2}', "two keys that differ only in normalisation"],
    ['{"a":[],"b":[{}],"c":{}}', "empty containers"],
  ])("when the body has %s (%s), then nothing repeats", (text) => {
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(jsonBodyProblem(utf8(text))).toBeUndefined();
  });

  it("when the body is nested 100 000 deep, then the scan needs no stack", () => {
    const depth = 100_000;
    expect(jsonBodyProblem(utf8(`${"[".repeat(depth)}${"]".repeat(depth)}`))).toBeUndefined();
    expect(jsonBodyProblem(utf8(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`))).toBeUndefined();
  });

  it("when the bytes are not UTF-8, then that is the problem, and a byte order mark is not", () => {
    expect(jsonBodyProblem(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]))).toBe(
      "the body is not valid UTF-8",
    );
    expect(jsonBodyProblem(Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]))).toBe(
      "the body is not valid UTF-8",
    );
    expect(
      jsonBodyProblem(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('{"a":1}')])),
    ).toBeUndefined();
  });
});

describe("repeatedHeaderProblem", () => {
  it("when Authorization comes once, then it is fine; twice under any spelling, then it is refused", () => {
    expect(repeatedHeaderProblem(["Host", "x", "Authorization", "Bearer a"])).toBeUndefined();
    expect(repeatedHeaderProblem(["authorization", "Bearer a", "AUTHORIZATION", "Bearer b"])).toBe(
      "the request repeats the Authorization header: send one",
    );
    expect(repeatedHeaderProblem(["authorization", "", "authorization", "Bearer a"])).toBeDefined();
    // Values are not names: a header whose value is "authorization" does not count.
    expect(repeatedHeaderProblem(["x-note", "authorization", "authorization", "Bearer a"])).toBeUndefined();
  });
});
