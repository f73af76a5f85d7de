/**
 * The first global setup of every vitest config: regenerates what is generated from sql/tasks/*.sql
 * before any test file loads, so the tests run the .sql files as they are now. Under `vitest` (watch
 * mode) an edited .sql file regenerates functions/core/run/sql.generated.ts, whose change reruns the tests
 * that import it.
 */
import type { TestProject } from "vitest/node";
import { refreshGeneratedSql } from "../scripts/generate/sql.js";

const taskSqlFile = /[\\/]sql[\\/]tasks[\\/][^\\/]+\.sql$/;

export default function setup(project: TestProject): void {
  refreshGeneratedSql();
  if (!project.vitest.config.watch) return;
  project.vitest.vite.watcher.on("all", (_event, file) => {
    if (!taskSqlFile.test(file)) return;
    try {
      const regenerated = refreshGeneratedSql();
      if (regenerated.length > 0) console.log(`sql/tasks changed: regenerated ${regenerated.join(", ")}`);
    } catch (error) {
      // A .sql file being edited may not parse yet; the next save tries again.
      console.error((error as Error).message);
    }
  });
}
