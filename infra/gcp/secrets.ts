/**
 * The SendGrid API key in Secret Manager. The key comes from the stack's config as a Pulumi secret
 * (encrypted in config and state); the function gets the version's resource name and reads the value
 * at run time, so the key is never in the function's environment, its build, or any log.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Apis } from "./apis.js";

export interface SendGridSecret {
  readonly secret: gcp.secretmanager.Secret;
  readonly version: gcp.secretmanager.SecretVersion;
  readonly accessor: gcp.secretmanager.SecretIamMember;
}

export function createSendGridSecret(
  project: string,
  prefix: string,
  apiKey: pulumi.Output<string>,
  runtimeEmail: pulumi.Output<string>,
  apis: Apis,
): SendGridSecret {
  const secret = new gcp.secretmanager.Secret(
    "sendgrid-api-key",
    {
      project,
      secretId: `${prefix}-sendgrid-api-key`,
      replication: { auto: {} },
      labels: { app: "scheduled-jobs" },
    },
    { dependsOn: [apis.secretmanager] },
  );
  const version = new gcp.secretmanager.SecretVersion("sendgrid-api-key", {
    secret: secret.id,
    secretData: pulumi.secret(apiKey),
  });
  // On this one secret only: a project-wide accessor role would open every secret in the project.
  const accessor = new gcp.secretmanager.SecretIamMember("runtime-sendgrid-accessor", {
    project,
    secretId: secret.secretId,
    role: "roles/secretmanager.secretAccessor",
    member: pulumi.interpolate`serviceAccount:${runtimeEmail}`,
  });
  return { secret, version, accessor };
}
