/** A pg_cron cluster with the app's database: its schema, every migration, and pg_cron created in it. */
import pg from "pg";
import { applyAppSchema, migrate } from "../../scripts/lib/migrate.js";
import type { PgCronCluster } from "./cluster.js";
import { startPgCronCluster } from "./cluster.js";

export async function startAppCluster(): Promise<{ cluster: PgCronCluster; db: pg.Pool }> {
  const cluster = startPgCronCluster();
  const admin = new pg.Client({ connectionString: cluster.url("postgres") });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${cluster.database}`);
  await admin.end();
  await applyAppSchema(cluster.url());
  await migrate(cluster.url());
  const db = new pg.Pool({ connectionString: cluster.url(), max: 4 });
  await db.query("CREATE EXTENSION IF NOT EXISTS pg_cron");
  return { cluster, db };
}
