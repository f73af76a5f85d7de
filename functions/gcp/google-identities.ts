/**
 * Google's identities and token facts that the caller check, the Pulumi program and the local
 * stack's development identity must all read the same way: the ID tokens' issuers, what Cloud Run
 * leaves in place of a verified token's signature, and the Cloud Monitoring service agent that the
 * dead-man's uptime checks call as. Facts only, no checks: importing it loads nothing.
 */
import { asciiLowerCase } from "../core/text.js";

/** The issuers Google's ID tokens carry (OpenID Connect: both spellings are Google's). */
export const googleIssuers: readonly string[] = ["https://accounts.google.com", "accounts.google.com"];

/**
 * What Cloud Run puts in place of the signature of a token it verified before forwarding the request,
 * so the forwarded token cannot be replayed elsewhere. Google documents this in Cloud Run's
 * troubleshooting guide, https://cloud.google.com/run/docs/troubleshooting#signature-removed; Google's
 * apigee/registry README puts it as "Cloud Run removes signatures from accepted JWT tokens, replacing
 * them with SIGNATURE_REMOVED_BY_GOOGLE".
 */
export const signatureRemovedMarker = "SIGNATURE_REMOVED_BY_GOOGLE";

/**
 * The audience of an ID token that gcloud mints for a signed-in person (`gcloud auth
 * print-identity-token`, and what `gcloud run services proxy` sends for a user account): gcloud's
 * own OAuth client, the `client_id` its sign-in names. Google's "Authenticate developers" page says
 * such tokens carry no audience of the service, which makes them open to replay, and keeps them for
 * development (https://cloud.google.com/run/docs/authenticating/developers): the caller check accepts
 * it for an operator (OPERATOR_EMAILS) only, never for the scheduler's account.
 */
export const gcloudUserAudience = "32555940559.apps.googleusercontent.com";

/**
 * The Cloud Monitoring service agent of a project: the identity whose OIDC token an uptime check with
 * `serviceAgentAuthentication` sends (the dead-man checks of GET /health, infra/gcp/dead-man.ts). Its form
 * is Google's: https://docs.cloud.google.com/monitoring/uptime-checks (service agent authentication).
 */
export function monitoringAgentEmail(projectNumber: string): string {
  return `service-${projectNumber}@gcp-sa-monitoring-notification.iam.gserviceaccount.com`;
}

const monitoringAgentPattern = /^service-\d+@gcp-sa-monitoring-notification\.iam\.gserviceaccount\.com$/;

/**
 * Whether a caller is a Monitoring service agent. Anyone who may edit the project's uptime checks
 * can make that agent send any request (a POST with a body too), so the router lets it read health
 * and nothing else, whatever AUTH_ALLOWED_EMAILS lists.
 */
export function isMonitoringAgent(email: string): boolean {
  return monitoringAgentPattern.test(asciiLowerCase(email));
}
