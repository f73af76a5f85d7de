/**
 * `npm run docs:screenshots`: the dashboard's pictures in docs/images, taken from the real page in
 * Debian's Chromium (through playwright-core) against `npm start`'s stack on a throwaway embedded
 * database with the demo data and a few hours of run history, so the pictures show what the page
 * shows today and never go stale. The browser test (test/local/dashboard.test.ts) seeds the same
 * history and takes the same pictures into test-results/.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import type { Queryable } from "../../functions/core/reads/tick-facts.js";

/** Where Debian installs Chromium (CI installs it: .ci/run). */
export const CHROMIUM = "/usr/bin/chromium";

/** The width the dashboard must fit without scrolling sideways. */
export const VIEWPORT = { width: 1280, height: 900 };

/** The operator the demo pause is recorded with. */
export const DEMO_OPERATOR = "alice@example.com";

/** The pictures, by file name under docs/images: which view of the page each shows. */
const PICTURES = {
  "dashboard.png": "",
  "dashboard-task.png": "#task=generate-daily-stats",
  "dashboard-run.png": "#run=",
  "dashboard-email.png": "#email",
} as const;

/**
 * A few hours of history relative to the database's clock: steady successes, a task whose failures
 * a later run repaired, a failing task with a long error, a task paused at run time by an operator
 * until a time (and forced while paused), emails queued, dead and in the local mailbox. Returns
 * the failing run's id.
 */
export async function seedDashboardHistory(db: Queryable): Promise<string> {
  await db.query(`
    INSERT INTO scheduler.job_runs (task, trigger, schedule_time, status, rows_affected, started_at, finished_at, duration_ms, error_code, message)
    SELECT 'auto-cancel-unconfirmed-orders', 'scheduler', date_trunc('minute', now()) - make_interval(mins => 120 - g),
           CASE WHEN g % 17 = 0 THEN 'failed' ELSE 'succeeded' END, g % 3,
           date_trunc('minute', now()) - make_interval(mins => 120 - g) + interval '1 second',
           date_trunc('minute', now()) - make_interval(mins => 120 - g) + interval '1 second', 20 + (g * 7) % 90,
           CASE WHEN g % 17 = 0 THEN 'task_failed' END,
           CASE WHEN g % 17 = 0 THEN 'canceling statement due to lock timeout' END
    FROM generate_series(1, 120) g;
    INSERT INTO scheduler.job_runs (task, trigger, status, rows_affected, started_at, finished_at, duration_ms)
    SELECT 'driver-inactivity-check', 'scheduler', 'succeeded', 1,
           now() - make_interval(mins => 120 - g * 5), now() - make_interval(mins => 120 - g * 5), 150 + g
    FROM generate_series(1, 23) g;
    INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at, duration_ms)
    VALUES ('cleanup-orphaned-menus', 'manual', 'paused', now() - interval '5 minutes', now() - interval '5 minutes', 0);
    INSERT INTO scheduler.email_outbox (kind, recipient, status, attempts, last_error, created_at)
    SELECT 'order-confirmation', 'customer' || g || '@example.com', 'pending', 0, NULL, now() - make_interval(mins => 25 - g)
    FROM generate_series(1, 3) g;
    INSERT INTO scheduler.email_outbox (kind, recipient, status, attempts, last_error, created_at)
    VALUES ('order-confirmation', 'gone@example.com', 'dead', 1, 'SendGrid refused the address: 550 5.1.1 mailbox does not exist', now() - interval '3 hours'),
           ('order-confirmation', NULL, 'dead', 5, 'no address: the order has no customer email', now() - interval '2 hours');
    INSERT INTO scheduler.local_mailbox (message_id, recipient, subject, body, created_at)
    VALUES ('local-demo-1', 'customer7@example.com', 'Your order #1042 is confirmed',
            E'Good news: Pizza Roma has confirmed your order #1042.\\n\\nOrder total: 23.50\\n', now() - interval '40 minutes'),
           ('local-demo-2', 'customer8@example.com', 'Your order #1043 is confirmed',
            E'Good news: Sushi Bar has confirmed your order #1043.\\n\\nOrder total: 41.00\\n', now() - interval '12 minutes');
  `);
  await db.query("SELECT scheduler.pause_task($1, $2, $3, now() + interval '2 hours')", [
    "cleanup-orphaned-menus",
    "the menus migration is running; resume when it is done",
    DEMO_OPERATOR,
  ]);
  const failing = await db.query<{ id: string }>(`
    INSERT INTO scheduler.job_runs (task, trigger, schedule_time, status, started_at, finished_at, duration_ms, error_code, message)
    VALUES ('generate-daily-stats', 'scheduler', date_trunc('day', now()) + interval '5 minutes', 'failed',
            now() - interval '10 minutes', now() - interval '10 minutes', 3200, 'timeout',
            'canceling statement due to statement timeout: the upsert of daily_order_stats for yesterday ran past the task''s 120 s timeout while another session held a lock on orders; nothing was written, and the next tick (or a replay of this one) computes the same day again')
    RETURNING id`);
  return String(failing.rows[0]!.id);
}

/** Opens the dashboard's view at `fragment` and waits for its data. */
export async function openView(page: Page, consoleUrl: string, fragment: string): Promise<void> {
  await page.goto(`${consoleUrl}/dashboard${fragment}`);
  const ready = fragment.startsWith("#task=")
    ? "#task-title"
    : fragment.startsWith("#run=")
      ? "#run-title"
      : fragment === "#email"
        ? "#outbox, #mailbox"
        : "#chart svg";
  await page.waitForSelector(ready);
}

/** Takes every picture of PICTURES into `outDir`; `failingRun` is the run the run page shows. */
export async function takePictures(
  context: BrowserContext,
  consoleUrl: string,
  outDir: string,
  failingRun: string,
): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const page = await context.newPage();
  const written: string[] = [];
  try {
    for (const [file, view] of Object.entries(PICTURES)) {
      await openView(page, consoleUrl, view === "#run=" ? `#run=${failingRun}` : view);
      const path = join(outDir, file);
      await page.screenshot({ path, fullPage: true });
      written.push(path);
    }
  } finally {
    await page.close();
  }
  return written;
}

/** Debian's Chromium, headless, with a fresh profile; `close` removes the profile too. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "sj-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: VIEWPORT,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const { ROOT, startLocalStack } = await import("../local/local-stack.js");
  const { freePort } = await import("../local/embedded-postgres.js");
  const { defaultStackFile, loadStackJobs } = await import("../lib/jobs.js");
  const pg = (await import("pg")).default;
  const dataDir = mkdtempSync(join(tmpdir(), "sj-screenshots-"));
  // Ports of its own and no scheduler: the pictures show the seeded history, whatever else runs.
  const stack = await startLocalStack({
    dataDir,
    pgPort: await freePort(),
    functionPort: 0,
    consolePort: 0,
    scheduler: false,
    jobs: loadStackJobs(defaultStackFile()),
    log: (line) => console.log(line),
  });
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  const browser = await launchChromium();
  try {
    await client.connect();
    const failing = await seedDashboardHistory(client);
    const written = await takePictures(
      browser.context,
      stack.consoleUrl,
      join(ROOT, "docs", "images"),
      failing,
    );
    for (const path of written) console.log(`wrote ${path.slice(ROOT.length + 1)}`);
  } finally {
    await browser.close();
    await client.end();
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("dashboard-screenshots.ts")) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
