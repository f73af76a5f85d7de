/**
 * Cloud SQL for PostgreSQL: a new small instance, or an existing one named by its connection name.
 * Either way the function's runtime identity connects as a Cloud SQL IAM database user (no password
 * anywhere). A new IAM user can log in but owns nothing: `npm run migrate -- --grant-to <user>` gives it
 * exactly the privileges the tasks need (see the README).
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { Apis } from "./apis.js";
import type { DatabaseDeployment } from "./config.js";
import { iamDatabaseUser } from "./iam.js";

export interface Database {
  readonly connectionName: pulumi.Output<string>;
  readonly databaseName: string;
  /** The runtime identity's database user name (DB_USER). */
  readonly user: pulumi.Output<string>;
  readonly instance?: gcp.sql.DatabaseInstance;
  readonly database?: gcp.sql.Database;
  readonly iamUser?: gcp.sql.User;
}

export function createDatabase(
  project: string,
  region: string,
  config: DatabaseDeployment,
  runtimeEmail: pulumi.Output<string>,
  apis: Apis,
): Database {
  const user = iamDatabaseUser(runtimeEmail);
  if (config.mode === "existing") {
    const iamUser = config.createIamUser
      ? new gcp.sql.User(
          "runtime-db-user",
          {
            project: config.instanceProject,
            instance: config.instanceName,
            name: user,
            type: "CLOUD_IAM_SERVICE_ACCOUNT",
          },
          { dependsOn: [apis.sqladmin] },
        )
      : undefined;
    return {
      connectionName: pulumi.output(config.connectionName),
      databaseName: config.databaseName,
      user,
      ...(iamUser ? { iamUser } : {}),
    };
  }

  const instance = new gcp.sql.DatabaseInstance(
    "database",
    {
      project,
      region,
      name: config.instanceName,
      databaseVersion: config.databaseVersion,
      deletionProtection: config.deletionProtection,
      settings: {
        tier: config.tier,
        // PostgreSQL 16+ defaults to Enterprise Plus, which has no shared-core tiers.
        edition: config.edition,
        availabilityType: "ZONAL",
        diskSize: config.diskSizeGb,
        diskAutoresize: true,
        deletionProtectionEnabled: config.deletionProtection,
        databaseFlags: [{ name: "cloudsql.iam_authentication", value: "on" }],
        ipConfiguration: {
          // A public IP with no authorized networks: reachable only through the Cloud SQL connectors
          // (the function's Node.js connector, the operator's Auth Proxy), which authenticate with IAM.
          ipv4Enabled: true,
          authorizedNetworks: [],
          sslMode: "ENCRYPTED_ONLY",
        },
        connectorEnforcement: "REQUIRED",
        backupConfiguration: { enabled: true, pointInTimeRecoveryEnabled: true },
        userLabels: { app: "scheduled-jobs" },
      },
    },
    { dependsOn: [apis.sqladmin] },
  );
  const database = new gcp.sql.Database("database", {
    project,
    instance: instance.name,
    name: config.databaseName,
  });
  const iamUser = new gcp.sql.User("runtime-db-user", {
    project,
    instance: instance.name,
    name: user,
    type: "CLOUD_IAM_SERVICE_ACCOUNT",
  });
  return {
    connectionName: instance.connectionName,
    databaseName: config.databaseName,
    user,
    instance,
    database,
    iamUser,
  };
}
