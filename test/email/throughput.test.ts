import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeSendGrid } from "../../scripts/local/fake-sendgrid.js";
import { startFakeSendGrid } from "../../scripts/local/fake-sendgrid.js";
import { useTestDatabase } from "../helpers/database.js";
import { fastRetries, resetEmailState, runEmailTask, seedVendors, sendGridConfig } from "../helpers/email.js";

const db = useTestDatabase();
let fake: FakeSendGrid;

beforeAll(async () => {
  fake = await startFakeSendGrid();
});
afterAll(async () => {
  await fake.close();
});

describe("vendor reports at volume", () => {
  it("when 10,000 restaurants are due, then 10 API calls send them, each once, within the task's budget", async () => {
    await resetEmailState(db.pool);
    await seedVendors(db.pool, 10_000);
    const started = performance.now();
    const result = await runEmailTask(
      db.pool,
      { config: sendGridConfig(fake), ...fastRetries },
      "send-daily-vendor-reports",
    );
    const elapsedMs = Math.round(performance.now() - started);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 10_000 });
    expect(fake.calls).toHaveLength(10);
    expect(new Set(fake.emails.map((email) => email.to)).size).toBe(10_000);
    expect(fake.emails).toHaveLength(10_000);
    console.log(
      JSON.stringify({
        measure: "vendor reports to the fake SendGrid",
        reports: 10_000,
        apiCalls: fake.calls.length,
        elapsedMs,
      }),
    );
    // The task's time budget is 420 s; this leaves two orders of magnitude.
    expect(elapsedMs).toBeLessThan(60_000);
  });
});
