/**
 * The Lambda's entry point: the runtime calls `handler` (the function's handler setting is
 * `index.handler`, the bundle being dist/lambda/index.mjs). Loads, at cold start, only what every
 * invoke needs (the catalog, the task SQL, the rules); pg, croner, the RDS signer, SendGrid, the
 * Secrets Manager client and the http tasks' SigV4 signer load on first use, so a SQL task's cold
 * path imports no AWS SDK module at top level.
 */
import { createLambdaFunction } from "./app.js";

export const handler = createLambdaFunction({ env: process.env }).handler;
