import { beforeEach, describe, expect, it } from "vitest";
import type { SecretVersionReader } from "../../functions/email/secret-manager.js";
import { useTestDatabase } from "../helpers/database.js";
import { fastRetries, runEmailTask, seedVendors, sendGridConfig, useFakeSendGrid } from "../helpers/email.js";
import { createEmailRuntime } from "../../functions/email/runtime.js";
import { runTask } from "../../functions/core/run/runner.js";
import { emailTask } from "../helpers/email.js";

const SECRET = "projects/delivery/secrets/sendgrid-api-key/versions/latest";
const db = useTestDatabase();
// The helper empties the sendGrid.fake and the email tables first; hooks run in the order registered.
const sendGrid = useFakeSendGrid(db);
beforeEach(async () => {
  await seedVendors(db.pool, 3);
});

/** A stand-in for SecretManagerServiceClient that counts its calls. */
function secretClient(answer: () => Promise<string>) {
  const calls: string[] = [];
  const client: SecretVersionReader = {
    async accessSecretVersion(request) {
      calls.push(request.name);
      return [{ payload: { data: Buffer.from(await answer()) } }];
    },
  };
  return { client, calls };
}

const config = (refreshSeconds = 600) =>
  sendGridConfig(sendGrid.fake, {
    key: { source: "secret-manager", secretVersion: SECRET },
    secretRefreshSeconds: refreshSeconds,
  });

describe("the SendGrid key from Secret Manager", () => {
  it("when email tasks run twice on one instance, then the key is read once, lazily, and used", async () => {
    const { client, calls } = secretClient(async () => sendGrid.fake.apiKey);
    const runtime = createEmailRuntime({ config: config(), secretClient: client, ...fastRetries });
    expect(calls).toEqual([]);
    const deps = { pool: db.pool, loadEmailHandler: runtime.handlerFor.bind(runtime) };
    const first = await runTask(deps, { task: emailTask("send-daily-vendor-reports"), trigger: "manual" });
    expect(first).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    await db.pool.query(
      "INSERT INTO orders (restaurant_id, status, customer_email) VALUES (1, 'confirmed', 'c@example.com')",
    );
    const second = await runTask(deps, { task: emailTask("send-order-confirmations"), trigger: "manual" });
    expect(second).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(calls).toEqual([SECRET]);
    expect(sendGrid.fake.emails).toHaveLength(4);
  });

  it("when the refresh interval has passed, then the key is read again, and a rotated key is used", async () => {
    let key = "SG.old-key";
    const { client, calls } = secretClient(async () => key);
    const runtime = createEmailRuntime({ config: config(0), secretClient: client, ...fastRetries });
    const deps = { pool: db.pool, loadEmailHandler: runtime.handlerFor.bind(runtime) };
    const refused = await runTask(deps, { task: emailTask("send-daily-vendor-reports"), trigger: "manual" });
    expect(refused).toMatchObject({ status: "failed", message: expect.stringMatching(/401/) });
    key = sendGrid.fake.apiKey;
    const sent = await runTask(deps, { task: emailTask("send-daily-vendor-reports"), trigger: "manual" });
    expect(sent).toMatchObject({ status: "succeeded", rowsAffected: 3 });
    expect(calls.length).toBeGreaterThanOrEqual(2);
  });

  it("when Secret Manager is unreachable, then the run fails as unavailable (503) and nothing is claimed", async () => {
    const { client } = secretClient(() =>
      Promise.reject(Object.assign(new Error("14 UNAVAILABLE: connect ECONNREFUSED"), { code: 14 })),
    );
    const result = await runEmailTask(
      db.pool,
      { config: config(), secretClient: client, ...fastRetries },
      "send-daily-vendor-reports",
    );
    expect(result).toMatchObject({
      status: "failed",
      code: "unavailable",
      message: "Secret Manager is unreachable (UNAVAILABLE)",
    });
    const claimed = await db.pool.query("SELECT count(*)::int AS n FROM scheduler.vendor_report_deliveries");
    expect(claimed.rows[0].n).toBe(0);
    expect(sendGrid.fake.calls).toHaveLength(0);
  });

  it("when Secret Manager refuses access, then the run fails as a configuration error (503) naming the secret, not its value, and nothing is claimed", async () => {
    const { client } = secretClient(() =>
      Promise.reject(Object.assign(new Error("7 PERMISSION_DENIED"), { code: 7 })),
    );
    const result = await runEmailTask(
      db.pool,
      { config: config(), secretClient: client },
      "send-daily-vendor-reports",
    );
    expect(result).toMatchObject({
      status: "failed",
      code: "unavailable",
      message: `Secret Manager refused to read the SendGrid key ${SECRET} (PERMISSION_DENIED); nothing was sent and every email stays queued`,
    });
    const claimed = await db.pool.query("SELECT 1 FROM scheduler.vendor_report_deliveries");
    expect(claimed.rows).toEqual([]);
  });

  it("when a refresh fails but a key is held, then the held key keeps mail going", async () => {
    let up = true;
    const { client, calls } = secretClient(() =>
      up
        ? Promise.resolve(sendGrid.fake.apiKey)
        : Promise.reject(Object.assign(new Error("unavailable"), { code: 14 })),
    );
    const runtime = createEmailRuntime({ config: config(0), secretClient: client, ...fastRetries });
    const deps = { pool: db.pool, loadEmailHandler: runtime.handlerFor.bind(runtime) };
    await runTask(deps, { task: emailTask("send-daily-vendor-reports"), trigger: "manual" });
    up = false;
    await db.pool.query(
      "INSERT INTO orders (restaurant_id, status, customer_email) VALUES (1, 'confirmed', 'c@example.com')",
    );
    const result = await runTask(deps, { task: emailTask("send-order-confirmations"), trigger: "manual" });
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(calls.length).toBeGreaterThanOrEqual(2);
  });
});
