/**
 * Vendor reports for many restaurants to the fake SendGrid (real SDK, real HTTP, the same fake the
 * tests use): the task through the runner, which sends up to 1,000 reports per API call, beside one
 * API call per vendor through the same transport with the same emails.
 */
import { createPool } from "../functions/core/db/pool.js";
import { createSendGridTransport } from "../functions/email/sendgrid.js";
import { MAIL_FROM, sendGridConfig, startFakeSendGrid } from "../scripts/local/fake-sendgrid.js";
import { runEmailTask, seedVendors } from "./lib/email.js";
import type { BenchContext } from "./lib/context.js";
import { count } from "./lib/context.js";
import { now } from "./lib/measure.js";
import { dropDatabase } from "./lib/postgres.js";
import type { Figure } from "./lib/report.js";
import { figure, formatMs } from "./lib/report.js";
import { applyAppSchema, migrate } from "../scripts/lib/migrate.js";

const TASK = "send-daily-vendor-reports";

export async function vendorReports(context: BenchContext): Promise<Figure[]> {
  const vendors = context.options.smoke ? 300 : 10_000;
  const section = `Vendor reports: ${count(vendors)} vendors to the fake SendGrid`;
  const name = "bench_vendor_reports";
  const { server } = context;
  await dropDatabase(server, name);
  await server.admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = server.url(name);
  await applyAppSchema(url);
  await migrate(url);
  const pool = createPool({ connectionString: url, max: 2 });
  const fake = await startFakeSendGrid();
  try {
    await seedVendors(pool, vendors);
    const start = now();
    const result = await runEmailTask(pool, { config: sendGridConfig(fake) }, TASK);
    const batchedMs = now() - start;
    if (result.status !== "succeeded")
      throw new Error(`${TASK} ended ${result.status}: ${JSON.stringify(result)}`);
    const calls = fake.calls.length;
    const emails = [...fake.emails];
    context.log(`  ${TASK}: ${result.rowsAffected} reports in ${calls} calls, ${formatMs(batchedMs)}`);

    // The reference: the same emails, one API call each, through the same SDK and transport.
    fake.reset();
    const transport = createSendGridTransport({ apiKey: async () => fake.apiKey, baseUrl: fake.url });
    const oneByOneStart = now();
    for (const email of emails) {
      await transport.send({
        from: MAIL_FROM,
        subject: email.subject,
        text: email.text,
        category: TASK,
        messages: [{ to: email.to, substitutions: {}, customArgs: { ...email.customArgs } }],
      });
    }
    const oneByOneMs = now() - oneByOneStart;
    const oneByOneCalls = fake.calls.length;
    context.log(`  one call per vendor: ${oneByOneCalls} calls, ${formatMs(oneByOneMs)}`);
    return [
      figure({
        section,
        name: `${TASK} through runTask: API calls`,
        value: calls,
        unit: "calls",
        reference: "one API call per vendor",
        referenceValue: oneByOneCalls,
        goal: "≤ 10 calls",
        verdict: calls <= 10 && result.rowsAffected === vendors ? "pass" : "short",
        note: `${result.rowsAffected} reports sent, ${fake.invalid.length === 0 ? "no request refused by the fake" : `${fake.invalid.length} requests refused`}`,
      }),
      figure({
        section,
        name: `${TASK} through runTask: time`,
        value: batchedMs,
        unit: "ms",
        reference: "one API call per vendor",
        referenceValue: oneByOneMs,
        goal: "(the time ratio)",
        verdict: "info",
        note: "includes the run's claims and delivery records in PostgreSQL; the reference only sends",
      }),
    ];
  } finally {
    await fake.close();
    await pool.end();
    await dropDatabase(server, name);
  }
}
