/**
 * What the function's http tasks need of Google: its runtime service account may invoke each
 * target service the stack names (`scheduled-jobs:httpTargets.<key>.service`), that service only
 * (`roles/run.invoker` on the Cloud Run service, never on the project). A Cloud Run target checks
 * the call's ID token and this role before the request reaches its code
 * (https://cloud.google.com/run/docs/authenticating/service-to-service).
 *
 * Egress: the function has no VPC connector or Direct VPC egress, so its calls leave by Google's
 * default path to the target's `run.app` URL. That reaches a target whose ingress is "all" (IAM
 * still decides who may call); a target whose ingress is "internal" takes only requests routed
 * through a VPC network (https://cloud.google.com/run/docs/securing/ingress), which this stack
 * does not deploy: such a target is not reachable until the function gets Direct VPC egress.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { HttpTargets } from "../../functions/core/config/http-targets.js";

/** A target's service as the grant names it: its own project and region when its name gives them. */
function serviceOf(
  service: string,
  project: string,
  region: string,
): { project: string; location: string; name: string } {
  const full = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/.exec(service);
  return full
    ? { project: full[1]!, location: full[2]!, name: full[3]! }
    : { project, location: region, name: service };
}

/** Each target setting a Google stack cannot honour, with the key; empty when there is none. */
export function googleTargetProblems(targets: HttpTargets): string[] {
  return Object.entries(targets).flatMap(([key, target]) =>
    target.function === undefined
      ? []
      : [
          `scheduled-jobs:httpTargets.${key}.function names a Lambda function URL's function (AWS's grant); on Google the grant follows .service (a Cloud Run service)`,
        ],
  );
}

export function grantTargetInvokers(args: {
  project: string;
  region: string;
  targets: HttpTargets;
  runtimeEmail: pulumi.Output<string>;
}): gcp.cloudrunv2.ServiceIamMember[] {
  return Object.entries(args.targets).flatMap(([key, target]) =>
    target.service === undefined
      ? []
      : [
          new gcp.cloudrunv2.ServiceIamMember(`http-target-invoker-${key}`, {
            ...serviceOf(target.service, args.project, args.region),
            role: "roles/run.invoker",
            member: pulumi.interpolate`serviceAccount:${args.runtimeEmail}`,
          }),
        ],
  );
}
