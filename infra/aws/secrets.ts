/**
 * The SendGrid API key in Secrets Manager: the secret's `SecretString` is the key itself, set from
 * the stack's Pulumi secret, and the function reads it at run time by the secret's ARN
 * (SENDGRID_API_KEY_SECRET_ARN), never from its environment
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-secrets-manager.html).
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

export interface SendGridSecret {
  readonly secret: aws.secretsmanager.Secret;
  readonly version: aws.secretsmanager.SecretVersion;
}

export function createSendGridSecret(prefix: string, key: pulumi.Output<string>): SendGridSecret {
  const secret = new aws.secretsmanager.Secret("sendgrid-api-key", {
    name: `${prefix}/sendgrid-api-key`,
    description: "The SendGrid API key of the scheduled email tasks (the SecretString is the key).",
  });
  const version = new aws.secretsmanager.SecretVersion("sendgrid-api-key", {
    secretId: secret.id,
    secretString: key,
  });
  return { secret, version };
}
