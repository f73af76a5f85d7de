/**
 * The Google APIs the stack uses, enabled on the project. A new project has few of them on, and a
 * resource created before its API is enabled fails, so every resource depends on its API here.
 */
import * as gcp from "@pulumi/gcp";

const REQUIRED_APIS = {
  cloudfunctions: "cloudfunctions.googleapis.com",
  /** 2nd gen functions are Cloud Run services; invoker IAM lives on the service. */
  run: "run.googleapis.com",
  /** Builds the function from source. */
  cloudbuild: "cloudbuild.googleapis.com",
  /** Holds the built function's image. */
  artifactregistry: "artifactregistry.googleapis.com",
  cloudscheduler: "cloudscheduler.googleapis.com",
  secretmanager: "secretmanager.googleapis.com",
  /** Cloud SQL Admin: instances, users, and the connector's ephemeral certificates. */
  sqladmin: "sqladmin.googleapis.com",
  iam: "iam.googleapis.com",
  /** Project-level IAM bindings go through the Resource Manager API. */
  cloudresourcemanager: "cloudresourcemanager.googleapis.com",
  storage: "storage.googleapis.com",
  logging: "logging.googleapis.com",
  monitoring: "monitoring.googleapis.com",
} as const;

type ApiName = keyof typeof REQUIRED_APIS;
export type Apis = Record<ApiName, gcp.projects.Service>;

export function enableApis(project: string): Apis {
  const apis = {} as Apis;
  for (const [name, service] of Object.entries(REQUIRED_APIS) as [ApiName, string][]) {
    apis[name] = new gcp.projects.Service(`api-${name}`, {
      project,
      service,
      // Other workloads in the project may use the same APIs: destroying this stack leaves them on.
      disableOnDestroy: false,
      disableDependentServices: false,
    });
  }
  return apis;
}
