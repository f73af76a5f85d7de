/**
 * Small string rules that several parts must apply the same way (the caller check, the
 * environment's parsers, error messages): one home, so a comparison or a quoted value never
 * differs between them.
 */

/**
 * Lower-cases A-Z only. `toLowerCase` also folds look-alikes into ASCII (U+212A KELVIN SIGN becomes
 * "k"), so an email that is not the allowed one would compare equal to it.
 */
export function asciiLowerCase(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** Text from outside cut to `length` characters, "..." marking the cut. */
export function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}...` : text;
}

/**
 * A value from outside (a caller's field or header, a token's claim, a setting) as a message or a
 * log line shows it: as JSON, so it can neither break the message nor pass for a part of it, and
 * bounded. A string is cut before it is quoted (its closing quote and escapes stay whole); any
 * other value's JSON is cut.
 */
export function quoted(value: unknown, length = 120): string {
  if (typeof value === "string") return JSON.stringify(clip(value, length));
  return clip(JSON.stringify(value) ?? String(value), length);
}
