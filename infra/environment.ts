/**
 * A deployed function's environment variable whose value the cloud computes (an ARN, a host, a
 * version name), written by the function's own environment contract
 * (functions/core/config/environment.ts), which reads the text back with the function's parser:
 * the stack's own values are checked when the program starts, the cloud's when they resolve.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ValueOf, VariableName } from "../functions/core/config/environment.js";
import { writeVariable } from "../functions/core/config/environment.js";

export function computedVariable<N extends VariableName>(
  name: N,
  value: pulumi.Input<ValueOf<N>>,
): pulumi.Output<string> {
  return pulumi.output(value).apply((resolved) => {
    if (resolved === undefined || resolved === null) {
      throw new Error(`the function's ${name} resolved to no value, and the function would refuse to start`);
    }
    return writeVariable(name, resolved as ValueOf<N>);
  });
}
