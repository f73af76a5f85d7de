/**
 * The email tasks run as the function runs them (the real runner and email runtime), and the
 * restaurants and orders a vendor-report run needs: shared by the vendor-report benchmark and the
 * email tests.
 */
import type pg from "pg";
import type { TaskDefinition } from "../../functions/core/catalog.js";
import { findTask } from "../../functions/core/catalog.js";
import type { Logger } from "../../functions/core/log.js";
import type { RunRequest, RunResult } from "../../functions/core/run/runner.js";
import { runTask } from "../../functions/core/run/runner.js";
import type { EmailRuntimeOptions } from "../../functions/email/runtime.js";
import { createEmailRuntime } from "../../functions/email/runtime.js";

export function emailTask(name: string): TaskDefinition {
  const task = findTask(name);
  if (!task) throw new Error(`no task ${name}`);
  return task;
}

/** Runs an email task through the runner, as the function would. */
export function runEmailTask(
  pool: pg.Pool,
  options: EmailRuntimeOptions,
  name: string,
  request: Partial<RunRequest> = {},
  log?: Logger,
): Promise<RunResult> {
  const runtime = createEmailRuntime(options);
  return runTask(
    { pool, log, loadEmailHandler: (task) => runtime.handlerFor(task) },
    { task: emailTask(name), trigger: "manual", ...request },
  );
}

/** `count` restaurants vendor<i>@example.com, each with a few orders yesterday (UTC). */
export async function seedVendors(pool: pg.Pool, count: number): Promise<void> {
  await pool.query(
    `INSERT INTO restaurants (name, email)
     SELECT 'Restaurant ' || i, 'vendor' || i || '@example.com' FROM generate_series(1, $1) AS i`,
    [count],
  );
  // Restaurant i: i % 3 delivered orders of 10.00 and one cancelled order yesterday; one order today.
  await pool.query(
    `INSERT INTO orders (restaurant_id, status, total_amount, created_at)
     SELECT r.id, s.status::order_status, 10,
            (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '12 hours'
     FROM restaurants r
     CROSS JOIN LATERAL (
       SELECT 'delivered' AS status FROM generate_series(1, r.id % 3)
       UNION ALL SELECT 'cancelled'
     ) s
     WHERE r.id <= $1
     UNION ALL
     SELECT r.id, 'delivered', 99, now() FROM restaurants r WHERE r.id <= $1`,
    [Math.min(count, 3000)],
  );
}
