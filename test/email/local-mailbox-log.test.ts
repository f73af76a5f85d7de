/**
 * A run through the local mailbox says one thing about its emails: they were kept in the local
 * mailbox, not sent. Its log must not say "not sent" of a message and then count it "sent"; and a
 * count of one is singular. Through SendGrid, the progress line says sent.
 */
import { describe, expect, it } from "vitest";
import { useTestDatabase } from "../helpers/database.js";
import {
  capturingLogger,
  MAIL_FROM,
  runEmailTask,
  seedVendors,
  sendGridConfig,
  useFakeSendGrid,
} from "../helpers/email.js";

const TASK = "send-daily-vendor-reports";
const db = useTestDatabase();
const sendGrid = useFakeSendGrid(db);

const messages = (log: ReturnType<typeof capturingLogger>) =>
  log.lines
    .map((line) => line.message)
    .filter((message) => message.startsWith("email ") || / so far$/.test(message));

describe("the log of an email run", () => {
  it("when the local mailbox keeps one report, then every line says it was kept there and not sent, in the singular", async () => {
    await seedVendors(db.pool, 1);
    const log = capturingLogger();
    const config = {
      transport: "local-mailbox" as const,
      key: { source: "none" as const },
      baseUrl: undefined,
      mailFrom: MAIL_FROM,
      opsEmail: undefined,
      secretRefreshSeconds: 600,
    };
    const result = await runEmailTask(db.pool, { config }, TASK, {}, log);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 1 });
    expect(messages(log)).toEqual([
      expect.stringMatching(
        /^email kept in the local mailbox, not sent \(no SendGrid key configured\): to vendor1@example\.com: Your orders on /,
      ),
      `${TASK}: 1 report kept in the local mailbox (not sent) so far`,
    ]);
  });

  it("when SendGrid accepts two reports, then the progress line says they were sent", async () => {
    await db.pool.query("TRUNCATE scheduler.vendor_report_deliveries");
    await seedVendors(db.pool, 2);
    const log = capturingLogger();
    const result = await runEmailTask(db.pool, { config: sendGridConfig(sendGrid.fake) }, TASK, {}, log);
    expect(result).toMatchObject({ status: "succeeded", rowsAffected: 2 });
    expect(messages(log)).toEqual([`${TASK}: 2 reports sent so far`]);
  });
});
