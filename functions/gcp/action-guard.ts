/**
 * What makes a browser's request an operator's action and not a forgery. The function's callers
 * carry no cookie, but in front of a browser something adds their token to every request: the local
 * console (`npm start`, 127.0.0.1:8081) or `gcloud run services proxy` on the operator's machine.
 * Any page the operator has open can send a request there, so a request that changes state must
 * prove it comes from the dashboard's own page (OWASP's Cross-Site Request Forgery Prevention Cheat
 * Sheet, https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html):
 *
 * - POST only, never GET (the router's route table): a link or an image cannot act.
 * - `Content-Type: application/json` ("Disallowing simple content types"): a form can post only
 *   the three simple types, and a script of another origin cannot send JSON without a CORS
 *   preflight.
 * - A custom header, `X-Scheduled-Jobs-Action: 1` ("Employing Custom Request Headers for
 *   AJAX/API"): another origin cannot add it without a preflight, and neither the function nor the
 *   console answers a preflight with `Access-Control-Allow-*`, so the browser never sends it.
 * - Fetch Metadata ("Fetch Metadata headers"): `Sec-Fetch-Site`, which a page cannot set, must be
 *   `same-origin` when the browser sends it (another port of localhost is `same-site`: refused).
 * - `Origin`, when sent, must be a loopback origin (where the console and the proxy serve the
 *   page). Behind the proxy the function cannot compare it with the page's host (the proxy sends
 *   the service's own Host), which is the check OWASP's "Identifying the Source Origin" needs; the
 *   loopback rule still refuses a page that reached the proxy's port through DNS rebinding, whose
 *   origin is its own name.
 *
 * A request without `Origin` and `Sec-Fetch-Site` is not a browser's (curl, a script with a token):
 * the custom header and the token are what it needs.
 */

/** The header the dashboard's script sends with every action. */
export const ACTION_HEADER = "X-Scheduled-Jobs-Action";
export const ACTION_HEADER_VALUE = "1";

const loopbackOrigin = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i;

/** Why this request may not act, or undefined when it may; `header` reads a request header. */
export function forgeryProblem(header: (name: string) => string | undefined): string | undefined {
  if (header(ACTION_HEADER) !== ACTION_HEADER_VALUE) {
    return `an action needs the header ${ACTION_HEADER}: ${ACTION_HEADER_VALUE} (the dashboard sends it; another site's page cannot)`;
  }
  const site = header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin") {
    return `the browser says this request comes from another site or origin (Sec-Fetch-Site: ${JSON.stringify(site.slice(0, 40))})`;
  }
  const origin = header("origin");
  if (origin !== undefined && !loopbackOrigin.test(origin)) {
    return `an action is taken only from the dashboard served on this machine (Origin ${JSON.stringify(origin.slice(0, 100))} is not a loopback origin)`;
  }
  return undefined;
}
