/**
 * A batched task's file writes which rows are due once: the count a dry run and the blast-radius
 * guard send is built from the batch's `-- due: begin` ... `-- due: end` lines.
 */
import { describe, expect, it } from "vitest";
import { parseTaskSql, readTaskSqlFiles } from "../scripts/generate/sql-files.js";

const batched = `-- name: batch
-- Delete one batch of expired sessions.
DELETE FROM user_sessions
WHERE id = ANY (ARRAY(
  SELECT id
  -- due: begin
  FROM user_sessions
  -- A comment inside the due lines is the file's, not the statement's.
  WHERE expires_at < now()
    AND kind = 'web'
  -- due: end
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));
`;

describe("a batched task's SQL file", () => {
  it("when its selection's FROM and WHERE are marked due, then the batch is sent as written and the count counts those rows, at most $1", () => {
    expect(parseTaskSql("sessions.sql", batched)).toEqual({
      batch: `DELETE FROM user_sessions
WHERE id = ANY (ARRAY(
  SELECT id
  FROM user_sessions
  WHERE expires_at < now()
    AND kind = 'web'
  ORDER BY expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
));`,
      count: `SELECT count(*) AS rows FROM (
  SELECT 1
  FROM user_sessions
  WHERE expires_at < now()
    AND kind = 'web'
  LIMIT $1
) AS due;`,
    });
  });

  it("when the due lines are not marked once, in order, then reading the file fails and says how to mark them", () => {
    const howTo = /one "-- due: begin" line and one "-- due: end" line after it/;
    expect(() => parseTaskSql("f.sql", batched.replace("  -- due: end\n", ""))).toThrow(howTo);
    expect(() => parseTaskSql("f.sql", batched.replace("-- due: begin", "-- due: end"))).toThrow(howTo);
    expect(() => parseTaskSql("f.sql", `${batched}-- due: begin\n-- due: end\n`)).toThrow(howTo);
    expect(() =>
      parseTaskSql(
        "f.sql",
        batched.replace(/-- due: begin[\s\S]*-- due: end/, "-- due: begin\n  -- due: end"),
      ),
    ).toThrow(/nothing between/);
  });

  it("when a file still writes its count apart, then reading it fails and says the count is built from the batch", () => {
    expect(() =>
      parseTaskSql("f.sql", `${batched}\n-- name: count\nSELECT count(*) FROM user_sessions LIMIT $1;\n`),
    ).toThrow(/unknown statement name "count" .*built from the batch's "-- due: begin"/);
  });

  it("when the project's batched tasks are read, then each count is the count of its batch's due rows", () => {
    const files = Object.entries(readTaskSqlFiles()).filter(([, file]) => file.batch);
    expect(files.length).toBeGreaterThan(0);
    for (const [name, file] of files) {
      const due =
        /^SELECT count\(\*\) AS rows FROM \(\n {2}SELECT 1\n([\s\S]*)\n {2}LIMIT \$1\n\) AS due;$/.exec(
          file.count!,
        )?.[1];
      expect(due, `${name}: the count's shape`).toBeDefined();
      expect(file.batch, `${name}: the batch picks from the count's rows`).toContain(
        `SELECT id\n${due}\n  ORDER BY`,
      );
    }
  });
});
