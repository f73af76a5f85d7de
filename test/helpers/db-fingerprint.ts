/**
 * A fingerprint of a database's data: the run history's row count and a checksum of every table's
 * rows, so "the database is unchanged" is one equality. Sequences are left out on purpose: a refused
 * request must not even start a run, and the run count says so.
 */
import type pg from "pg";

export interface DatabaseFingerprint {
  /** Rows in scheduler.job_runs, any status (a recorded skip is a change too). */
  readonly jobRuns: number;
  /** "schema.table" → "<rows>:<md5 of the rows in a stable order>". */
  readonly tables: Readonly<Record<string, string>>;
}

type Queryable = Pick<pg.Pool | pg.Client, "query">;

export async function fingerprint(db: Queryable): Promise<DatabaseFingerprint> {
  const tables = await db.query<{ name: string }>(`
    SELECT format('%I.%I', table_schema, table_name) AS name
    FROM information_schema.tables
    WHERE table_type = 'BASE TABLE' AND table_schema IN ('public', 'scheduler')
    ORDER BY 1`);
  const sums: Record<string, string> = {};
  for (const { name } of tables.rows) {
    // `name` comes from the catalog, quoted by format('%I'): no outside text reaches this SQL.
    const result = await db.query<{ rows: number; sum: string }>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS sum FROM ${name} t`,
    );
    const row = result.rows[0]!;
    sums[name] = `${row.rows}:${row.sum}`;
  }
  const runs = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM scheduler.job_runs");
  return { jobRuns: runs.rows[0]!.n, tables: sums };
}
