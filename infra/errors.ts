/**
 * Errors the operator fixes (a bad config value, a missing build): reported by Pulumi as the message
 * alone, and without a stack trace, for two reasons.
 *
 * A RunError is what Pulumi's Node.js runtime prints as its message, without the source and stack
 * of an unhandled error, which would only bury the key to fix
 * (https://www.pulumi.com/docs/reference/pkg/nodejs/pulumi/pulumi/classes/RunError.html).
 *
 * The runtime still formats every error with `util.inspect(err, { colors: true })` for its tracing
 * (@pulumi/pulumi cmd/run/run.js), and Node's inspect loops until it runs out of string length on a
 * stack frame whose path ends in a scoped package's file, which is what Pulumi's own source maps
 * produce (`node_modules/@pulumi/resource.ts`): nodejs/node#64011, fixed by nodejs/node#64022. On
 * Node 20.20 that turned a config mistake into a long wait and a large heap before `pulumi up`
 * said anything. The stack of these errors says nothing the message does not.
 */
// The class alone, not the SDK's index: `plan` runs these checks, and the index loads the whole runtime.
import { RunError } from "@pulumi/pulumi/errors.js";

export class OperatorError extends RunError {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
    this.stack = `${this.name}: ${message}`;
  }
}
