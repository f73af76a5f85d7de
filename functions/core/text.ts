/**
 * Small string rules that several parts must apply the same way (the caller check, the
 * environment's parsers, error messages): one home, so a comparison never differs between them.
 */

/**
 * Lower-cases A-Z only. `toLowerCase` also folds look-alikes into ASCII (U+212A KELVIN SIGN becomes
 * "k"), so an email that is not the allowed one would compare equal to it.
 */
export function asciiLowerCase(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
