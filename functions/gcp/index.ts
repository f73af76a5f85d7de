/**
 * The deployed entry point: `functions.http('scheduledTasks', handler)`. Loads, at cold start,
 * only what every request needs (the framework, pg, the catalog and the task SQL); the Cloud SQL
 * connector, the health report's cron library and the email tasks' SDKs load on first use.
 */
import * as functions from "@google-cloud/functions-framework";
import { createScheduledTasksFunction } from "./app.js";

const scheduledTasks = createScheduledTasksFunction({ env: process.env });

functions.http("scheduledTasks", scheduledTasks.handler);
