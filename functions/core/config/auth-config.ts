/**
 * The settings of the function's caller check (functions/gcp/auth.ts does the check): which tokens
 * it accepts and from whom. Read from the environment by function-config.ts, so they live with the
 * rest of the configuration; the check itself is the Google adapter's.
 */

/**
 * `verify`: every token's signature is checked against the certificates at `certsUrl`.
 * `cloud-run`: a token whose signature Cloud Run removed after verifying it is judged on its claims;
 * a token that still carries a signature is verified as in `verify` mode.
 */
export type AuthMode = "verify" | "cloud-run";

export interface AuthConfig {
  mode: AuthMode;
  /** Accepted `aud` values, compared without trailing slashes. */
  audiences: readonly string[];
  /** `email` claims allowed to call the function, compared ASCII-case-insensitively. */
  allowedEmails: ReadonlySet<string>;
  /**
   * People who may also act from the dashboard (OPERATOR_EMAILS), ASCII-lower-cased: callers too.
   * Their tokens may carry gcloud's own audience besides this function's (see the caller check).
   */
  operatorEmails?: ReadonlySet<string>;
  /** Where the token-signing certificates are: Google's PEM format (kid → certificate) or a JWK set. */
  certsUrl: string;
  /** Tolerance for the caller's clock on `exp`, `nbf` and `iat`; default {@link defaultClockSkewSeconds}. */
  clockSkewSeconds?: number;
}

/**
 * Sixty seconds: Google's servers and Cloud Run instances keep NTP-synchronised time, so real skew is
 * far below this, while a developer machine or CI runner can drift by tens of seconds. It is small
 * next to a Google ID token's one-hour lifetime, so it barely extends what a leaked token could do.
 * (google-auth-library allows 300 s; IAP's documentation 30 s.)
 */
export const defaultClockSkewSeconds = 60;
