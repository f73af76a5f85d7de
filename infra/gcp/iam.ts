/**
 * The stack's identities and their project-level roles. Each identity gets only what its job needs;
 * the grants on single resources (the secret, the function's service) sit next to those resources.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Apis } from "./apis.js";

/** Roles of the function's runtime identity on the database's project: reach Cloud SQL as an IAM user. */
const RUNTIME_DATABASE_ROLES = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"] as const;
/** Roles of the function's runtime identity on the stack's project: write its logs. */
const RUNTIME_PROJECT_ROLES = ["roles/logging.logWriter"] as const;

/**
 * Project roles of the identity that builds the function. New projects may build with a default
 * identity that lacks these (see the design document); the build needs to write its logs, push the
 * image, and read the uploaded source.
 */
const BUILD_PROJECT_ROLES = [
  "roles/logging.logWriter",
  "roles/artifactregistry.writer",
  "roles/storage.objectViewer",
] as const;

interface Identities {
  /** The function runs as this account. */
  readonly runtime: gcp.serviceaccount.Account;
  /** Cloud Scheduler signs its OIDC tokens as this account; it may only invoke the function. */
  readonly scheduler: gcp.serviceaccount.Account;
  /** Cloud Build builds the function as this account. */
  readonly build: gcp.serviceaccount.Account;
  readonly bindings: readonly gcp.projects.IAMMember[];
}

/**
 * `databaseProject` is the project of the Cloud SQL instance: the stack's own, or another one when
 * the stack uses an existing instance there (Cloud SQL checks the roles in the instance's project).
 */
export function createIdentities(
  project: string,
  prefix: string,
  apis: Apis,
  databaseProject = project,
): Identities {
  const dependsOn = [apis.iam, apis.cloudresourcemanager];
  const account = (role: string, displayName: string, description: string): gcp.serviceaccount.Account =>
    new gcp.serviceaccount.Account(
      `sa-${role}`,
      { project, accountId: `${prefix}-${role}`, displayName, description },
      { dependsOn },
    );
  const runtime = account(
    "runtime",
    "Scheduled jobs: function runtime",
    "Runs the scheduled-tasks function: Cloud SQL as an IAM database user, the SendGrid secret, logs.",
  );
  const scheduler = account(
    "invoker",
    "Scheduled jobs: Cloud Scheduler invoker",
    "Signs Cloud Scheduler's OIDC tokens; may only invoke the scheduled-tasks function.",
  );
  const build = account(
    "build",
    "Scheduled jobs: function build",
    "Builds the scheduled-tasks function from its uploaded source.",
  );
  const bindings: gcp.projects.IAMMember[] = [];
  const bind = (who: string, sa: gcp.serviceaccount.Account, role: string, onProject = project): void => {
    bindings.push(
      new gcp.projects.IAMMember(
        `${who}-${role.replace(/^roles\//, "").replace(/\./g, "-")}`,
        { project: onProject, role, member: pulumi.interpolate`serviceAccount:${sa.email}` },
        { dependsOn },
      ),
    );
  };
  for (const role of RUNTIME_DATABASE_ROLES) bind("runtime", runtime, role, databaseProject);
  for (const role of RUNTIME_PROJECT_ROLES) bind("runtime", runtime, role);
  for (const role of BUILD_PROJECT_ROLES) bind("build", build, role);
  return { runtime, scheduler, build, bindings };
}

/**
 * Cloud SQL's IAM database user name for a service account: its email without
 * ".gserviceaccount.com" (PostgreSQL names are limited to 63 bytes).
 */
export function iamDatabaseUser(email: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.output(email).apply((value) => value.replace(/\.gserviceaccount\.com$/, ""));
}
