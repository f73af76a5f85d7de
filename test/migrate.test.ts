import pg from "pg";
import { describe, expect, it } from "vitest";
import { migrate } from "../scripts/lib/migrate.js";
import { readMigrations } from "../scripts/generate/sql-files.js";
import { useTestDatabase } from "./helpers/database.js";

const db = useTestDatabase();

describe("migrations", () => {
  it("when applied to a database that has them all, then nothing is applied and nothing changes", async () => {
    const before = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname IN ('public', 'scheduler')`,
    );
    const result = await migrate(db.url);
    expect(result.applied).toEqual([]);
    expect(result.alreadyApplied).toEqual(readMigrations().map((m) => m.name));
    const after = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname IN ('public', 'scheduler')`,
    );
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it("when a migration is forgotten in the record, then it is applied again without error (each is re-runnable or tracked)", async () => {
    await db.pool.query(`DELETE FROM scheduler.schema_migrations WHERE name = '000002_task_indexes'`);
    const result = await migrate(db.url);
    expect(result.applied).toEqual(["000002_task_indexes"]);
  });

  it("when a migration fails, then the error names it and the transaction leaves nothing behind", async () => {
    const broken = [
      {
        name: "999999_broken",
        sql: "CREATE TABLE scheduler.half_done (id int); SELECT 1/0;",
        transactional: true,
      },
    ];
    await expect(migrate(db.url, broken)).rejects.toThrow(/migration 999999_broken failed: division by zero/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const exists = await client.query(`SELECT to_regclass('scheduler.half_done') IS NOT NULL AS exists`);
    await client.end();
    expect(exists.rows[0].exists).toBe(false);
  });

  it("when the indexes the tasks need are listed, then each exists", async () => {
    const result = await db.pool.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`,
    );
    const names = result.rows.map((r) => r.indexname);
    for (const index of [
      "orders_pending_placed_at_idx",
      "orders_archivable_idx",
      "reviews_restaurant_id_idx",
      "restaurant_menus_menu_id_idx",
      "drivers_available_updated_at_idx",
    ]) {
      expect(names).toContain(index);
    }
  });
});
