/**
 * How strictly a request is read: what a lenient reader would quietly resolve one way while
 * another reader (a proxy in front, a log, a later version of a library) resolves it another. Each
 * rule answers with a message for the caller, or undefined when the request is unambiguous.
 *
 * Loaded at cold start with the router: no dependency but the core's quoting, and every POST needs it.
 */
import { quoted } from "../core/text.js";

const token = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const quotedString = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
/** RFC 9110 section 8.3.1: type "/" subtype *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] ). */
const mediaTypeGrammar = new RegExp(
  `^[ \\t]*${token}/${token}[ \\t]*(?:;[ \\t]*(?:${token}=(?:${token}|${quotedString}))?[ \\t]*)*$`,
);
const parameterGrammar = new RegExp(`;[ \\t]*(?:(${token})=(${token}|${quotedString}))?`, "g");

function unquote(value: string): string {
  return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
}

/**
 * Why a Content-Type header is refused: it does not follow the grammar, or names a charset other
 * than UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8). The framework's body
 * parser takes the first charset parameter and decodes UTF-16 and UTF-7 bodies with it; every
 * charset parameter is checked here, so no reading of a repeated one can pick another encoding.
 */
export function contentTypeProblem(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!mediaTypeGrammar.test(header)) return `the Content-Type header ${quoted(header, 60)} is malformed`;
  for (const [, name, value] of header.matchAll(parameterGrammar)) {
    if (name === undefined || value === undefined || name.toLowerCase() !== "charset") continue;
    const charset = unquote(value);
    if (charset.toLowerCase() !== "utf-8") {
      return `the body must be UTF-8 JSON (Content-Type names charset ${quoted(charset, 60)})`;
    }
  }
  return undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Why a JSON body that the framework has parsed is still refused: its bytes are not UTF-8 (the
 * framework's decoder replaces invalid bytes instead of refusing them), or an object repeats a key
 * at any depth (JSON.parse keeps the last value; another reader may keep the first). Keys are
 * compared decoded, so `"task"` and `"t\u0061sk"` are the same key. `raw` must be a JSON text that
 * JSON.parse accepts: the scan relies on its grammar and only tracks where keys stand.
 */
export function jsonBodyProblem(raw: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return "the body is not valid UTF-8";
  }
  // One entry per open object (its keys so far) or array (null); iterative, so depth costs no stack.
  const open: Array<Set<string> | null> = [];
  let keyNext = false;
  for (let index = 0; index < text.length; index += 1) {
    switch (text.charCodeAt(index)) {
      case 0x7b: // {
        open.push(new Set());
        keyNext = true;
        break;
      case 0x5b: // [
        open.push(null);
        keyNext = false;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        open.pop();
        keyNext = false;
        break;
      case 0x2c: // ,
        keyNext = open.at(-1) instanceof Set;
        break;
      case 0x22: {
        // "
        const start = index;
        for (index += 1; index < text.length && text.charCodeAt(index) !== 0x22; index += 1) {
          if (text.charCodeAt(index) === 0x5c) index += 1;
        }
        if (!keyNext) break;
        const keys = open.at(-1);
        const key = JSON.parse(text.slice(start, index + 1)) as string;
        if (keys?.has(key)) return `the body repeats the key ${quoted(key, 60)} (ambiguous JSON)`;
        keys?.add(key);
        keyNext = false;
        break;
      }
    }
  }
  return undefined;
}

/**
 * Why a request's headers are refused: a repeated Authorization header. Node keeps the first and
 * drops the others, while a proxy in front may judge the last, so which credential is checked
 * would depend on who reads it. RFC 6750 section 3.1 names a request that "repeats the same
 * parameter" or "uses more than one method for including an access token" `invalid_request`,
 * answered 400 (https://www.rfc-editor.org/rfc/rfc6750#section-3.1): it is a malformed request,
 * not a credential that failed, and it is refused before any credential is looked at.
 */
export function repeatedHeaderProblem(rawHeaders: readonly string[]): string | undefined {
  let authorization = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === "authorization") authorization += 1;
  }
  return authorization > 1 ? "the request repeats the Authorization header: send one" : undefined;
}
