import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("embedded PostgreSQL", () => {
  it("when a process that started and stopped a server sets a failing exit code, then it exits with that code", async () => {
    // The package's own exit hook used to turn every natural exit into exit 0: failing test runs passed CI.
    const script = `
      const { mkdtempSync } = await import("node:fs");
      const { tmpdir } = await import("node:os");
      const { join } = await import("node:path");
      const { startEmbeddedPostgres } = await import("./scripts/local/embedded-postgres.ts");
      const server = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), "sj-exit-")), persistent: false });
      await server.stop();
      process.exitCode = 3;`;
    const code = await new Promise<number | null>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        { cwd: new URL("..", import.meta.url) },
        (error) => resolve(error ? ((error as { code?: number }).code ?? null) : 0),
      );
    });
    expect(code).toBe(3);
  });
});
