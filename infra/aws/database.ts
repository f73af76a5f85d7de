/**
 * RDS for PostgreSQL, created or an existing instance, reached with IAM database authentication: the
 * function signs in as one database user with a token its role may make (`rds-db:connect`,
 * iam.ts), never a password (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html).
 * No RDS Proxy: the runner holds a session-level advisory lock per run and every query is
 * parameterised, and RDS Proxy pins a PostgreSQL session for both, so it would multiplex nothing
 * (docs/aws.md).
 *
 * A new instance is private (no public address), encrypted, in a subnet group of the stack's
 * subnets, behind a security group that admits PostgreSQL's port from the function's security
 * groups only; its master password is one RDS keeps in Secrets Manager
 * (`manageMasterUserPassword`), so none passes through the stack.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import type { NetworkDeployment, RdsDeployment } from "./config.js";

const POSTGRES_PORT = 5432;

export interface Database {
  /** The endpoint's host name (DB_HOST). */
  readonly address: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** The instance's ARN: its partition, region and account. */
  readonly arn: pulumi.Output<string>;
  /** The DbiResourceId, which names the instance in `rds-db:connect` ARNs. */
  readonly resourceId: pulumi.Output<string>;
  readonly databaseName: string;
  readonly databaseUser: string;
  readonly instance: aws.rds.Instance | undefined;
}

export function createDatabase(prefix: string, rds: RdsDeployment, network: NetworkDeployment): Database {
  const common = { databaseName: rds.databaseName, databaseUser: rds.databaseUser };
  if (rds.mode === "existing") {
    const found = aws.rds.getInstanceOutput({ dbInstanceIdentifier: rds.instanceIdentifier });
    return {
      ...common,
      address: found.address,
      port: found.port,
      arn: found.dbInstanceArn,
      resourceId: found.resourceId,
      instance: undefined,
    };
  }
  const subnets = new aws.rds.SubnetGroup("database", {
    name: `${prefix}-db`,
    description: "The scheduled jobs' database: the stack's private subnets.",
    subnetIds: [...network.subnetIds],
  });
  const securityGroup = new aws.ec2.SecurityGroup("database", {
    name: `${prefix}-db`,
    description: "PostgreSQL from the scheduled tasks' function only.",
    vpcId: network.vpcId,
  });
  network.securityGroupIds.forEach(
    (source, index) =>
      new aws.vpc.SecurityGroupIngressRule(`database-from-function-${index}`, {
        securityGroupId: securityGroup.id,
        referencedSecurityGroupId: source,
        ipProtocol: "tcp",
        fromPort: POSTGRES_PORT,
        toPort: POSTGRES_PORT,
        description: "PostgreSQL from the scheduled tasks' function",
      }),
  );
  const instance = new aws.rds.Instance("database", {
    identifier: rds.instanceIdentifier,
    engine: "postgres",
    engineVersion: rds.engineVersion,
    instanceClass: rds.instanceClass,
    allocatedStorage: rds.allocatedStorageGb,
    storageType: "gp3",
    storageEncrypted: true,
    dbName: rds.databaseName,
    username: "postgres",
    manageMasterUserPassword: true,
    iamDatabaseAuthenticationEnabled: true,
    port: POSTGRES_PORT,
    dbSubnetGroupName: subnets.name,
    vpcSecurityGroupIds: [securityGroup.id],
    publiclyAccessible: false,
    backupRetentionPeriod: 7,
    deletionProtection: rds.deletionProtection,
    finalSnapshotIdentifier: `${rds.instanceIdentifier}-final`,
    skipFinalSnapshot: false,
  });
  return {
    ...common,
    address: instance.address,
    port: instance.port,
    arn: instance.arn,
    resourceId: instance.resourceId,
    instance,
  };
}
