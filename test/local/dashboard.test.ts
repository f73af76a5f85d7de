/**
 * The dashboard in a real browser: Debian's Chromium, driven by playwright-core, through the local
 * console as `npm start` serves it. CI installs Chromium (.ci/run), so there a missing browser fails
 * the test; on a developer's machine without it the test is skipped and says why.
 */
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { taskNames } from "../../functions/core/catalog.js";
import { createLogger } from "../../functions/core/log.js";
import { ACTION_HEADER } from "../../functions/gcp/action-guard.js";
import type { HealthAnswer } from "../../functions/gcp/contract.js";
import type { CertsServer, DevIdentity } from "../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../scripts/local/dev-identity.js";
import { ROOT, serveConsole } from "../../scripts/local/local-stack.js";
import {
  CHROMIUM,
  DEMO_OPERATOR,
  launchChromium,
  openView,
  seedDashboardHistory,
  takePictures,
  VIEWPORT,
} from "../../scripts/generate/dashboard-screenshots.js";
import { useTestDatabase } from "../helpers/database.js";
import type { RunningFunction } from "../helpers/function-server.js";
import { call, startFunction } from "../helpers/function-server.js";

// The browser's own, inside the functions page.$eval serializes into the page (this project's types
// have no DOM library).
declare function getComputedStyle(element: unknown): {
  color: string;
  backgroundColor: string;
  whiteSpace: string;
  textOverflow: string;
  overflowX: string;
};
interface Box {
  readonly parentElement: Box | null;
  readonly tagName: string;
  readonly id: string;
  readonly className: string;
  getBoundingClientRect(): { right: number };
}
declare const location: { hash: string };
declare const document: {
  documentElement: { scrollWidth: number; clientWidth: number };
  querySelectorAll(selector: string): Iterable<Box>;
};

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) {
  throw new Error(
    `${CHROMIUM} is missing: CI must install Debian's chromium (apt-get install -y chromium) before npm test`,
  );
}
if (!haveChromium) {
  console.warn(
    `dashboard test skipped: ${CHROMIUM} is not installed (apt-get install -y chromium); CI runs it`,
  );
}

const OPERATOR = "operator@localhost.localdomain";
const RED = "rgb(207, 34, 46)";

const db = useTestDatabase();
let identity: DevIdentity;
let certs: CertsServer;
let fn: RunningFunction;
let consoleServer: Server;
let consoleUrl: string;
let failingRun: string;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

beforeAll(async () => {
  identity = createDevIdentity({ audience: "http://localhost:8080" });
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: {
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: "http://localhost:8080",
      AUTH_ALLOWED_EMAILS: identity.email,
      OPERATOR_EMAILS: OPERATOR,
      AUTH_CERTS_URL: certs.url,
    },
    log: createLogger({}, () => undefined),
  });
  consoleServer = await serveConsole(0, fn.url, {
    invoker: () => identity.signIdToken(),
    operator: () => identity.signIdToken({ email: OPERATOR }),
  });
  consoleUrl = `http://127.0.0.1:${(consoleServer.address() as AddressInfo).port}`;
  failingRun = await seedDashboardHistory(db.pool);
  if (haveChromium) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => {
    consoleServer?.closeAllConnections();
    consoleServer?.close(() => resolve());
  });
  await fn?.close();
  await certs?.close();
});

/** A page that fails the test on a console error, a failed request or a request anywhere else. */
async function watchedPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
  page.on("request", (request) => {
    if (!request.url().startsWith(consoleUrl) && !request.url().startsWith("data:"))
      problems.push(`request elsewhere: ${request.url()}`);
  });
  return { page, problems };
}

/**
 * Whether the page scrolls sideways, and the elements that stick out past the window's right edge
 * unless a box of theirs clips them (an error clipped to its cell does not count).
 */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate((width) => {
    const clipped = (node: Box): boolean => {
      for (let up = node.parentElement; up; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== "visible") return true;
      }
      return false;
    };
    const wide: string[] = [];
    if (document.documentElement.scrollWidth > width)
      wide.push(`the page: ${document.documentElement.scrollWidth} px`);
    for (const node of document.querySelectorAll("body *")) {
      if (node.getBoundingClientRect().right > width + 0.5 && !clipped(node))
        wide.push(`${node.tagName.toLowerCase()}#${node.id}.${String(node.className)}`);
    }
    return wide.slice(0, 10);
  }, VIEWPORT.width);
}

/** Everything an action could change. */
async function actionState(): Promise<unknown> {
  const [pauses, actions, runs] = await Promise.all([
    db.pool.query("SELECT * FROM scheduler.task_pauses ORDER BY task"),
    db.pool.query("SELECT count(*)::int AS n FROM scheduler.operator_actions"),
    db.pool.query("SELECT count(*)::int AS n FROM scheduler.job_runs"),
  ]);
  return { pauses: pauses.rows, actions: actions.rows, runs: runs.rows };
}

describe.skipIf(!haveChromium)("the dashboard in headless Chromium", () => {
  it("when the overview loads, then it lists every task, names those needing attention, sets the paused apart and fits 1280 px", async () => {
    const { page, problems } = await watchedPage(browser!.context);
    await openView(page, consoleUrl, "");
    const active = await page.$$eval("#tasks tbody:not(.paused) tr[data-task]", (trs) =>
      trs.map((tr) => tr.getAttribute("data-task")),
    );
    const paused = await page.$$eval("#tasks tbody.paused tr[data-task]", (trs) =>
      trs.map((tr) => tr.getAttribute("data-task")),
    );
    expect(paused).toEqual(["cleanup-orphaned-menus"]);
    expect([...active, ...paused].sort()).toEqual([...taskNames].sort());

    // The badge says how many need attention and which: exactly /health's overdue or failed, paused aside.
    const health = (await call(`${fn.url}/health`, { token: identity.signIdToken() }))
      .body as unknown as HealthAnswer;
    const attention = health.tasks.filter((t) => !t.paused && (t.overdue || t.lastStatus === "failed"));
    expect(await page.$$eval("#attention a", (as) => as.map((a) => a.getAttribute("data-task")))).toEqual(
      attention.map((t) => t.task),
    );
    expect(await page.textContent("#overall")).toBe(`${attention.length} tasks need attention`);
    expect(await page.$eval("#overall", (e) => getComputedStyle(e).backgroundColor)).toBe(RED);
    expect(attention.map((t) => t.task)).toContain("generate-daily-stats");
    expect(attention.map((t) => t.task)).not.toContain("auto-cancel-unconfirmed-orders");

    // Nothing scrolls sideways at 1280 px, and headers never wrap.
    expect(await overflowing(page)).toEqual([]);
    expect(
      new Set(await page.$$eval("#tasks th", (ths) => ths.map((th) => getComputedStyle(th).whiteSpace))),
    ).toEqual(new Set(["nowrap"]));

    // A failing task: its error clipped to one line in red (whole in the tooltip and on its run's page).
    const failing = '#tasks tr[data-task="generate-daily-stats"]';
    const error = await page.$eval(`${failing} td.error`, (td) => ({
      text: td.textContent,
      title: td.getAttribute("title"),
      clipped: td.scrollWidth > td.clientWidth,
      style: [getComputedStyle(td).whiteSpace, getComputedStyle(td).textOverflow, getComputedStyle(td).color],
      link: td.querySelector("a")?.getAttribute("href"),
    }));
    expect(error.text).toMatch(/^canceling statement due to statement timeout: the upsert/);
    expect(error.title).toBe(error.text);
    expect(error.clipped).toBe(true);
    expect(error.style).toEqual(["nowrap", "ellipsis", RED]);
    expect(error.link).toBe(`#run=${failingRun}`);
    expect(await page.$eval(`${failing} .status-failed`, (e) => getComputedStyle(e).color)).toBe(RED);
    expect(await page.$$eval(`${failing} .strip i`, (marks) => marks.map((m) => m.className))).toEqual([
      "strip-failed",
    ]);
    expect(await page.$eval(`${failing} td.last-ms`, (e) => e.textContent)).toBe("3200");
    const cells = await page.$eval(failing, (tr) =>
      [...tr.querySelectorAll("td")].map((td) => td.textContent),
    );
    expect(cells[1]).toBe("daily at 00:05 UTC 5 0 * * *");
    expect(cells[2]).toMatch(/^\d{4}-\d{2}-\d{2} 00:05:00 UTC$/);

    // A task whose last run repaired its failures: no red error beside "succeeded".
    const repaired = '#tasks tr[data-task="auto-cancel-unconfirmed-orders"]';
    expect(await page.$eval(`${repaired} td.last`, (td) => td.textContent)).toMatch(/succeeded$/);
    const repairedError = await page.$eval(`${repaired} td.error`, (td) => [
      td.textContent,
      getComputedStyle(td).color,
    ]);
    expect(repairedError[0]).toMatch(/^repaired: last failed \d+ (s|min) ago$/);
    expect(repairedError[1]).not.toBe(RED);
    expect(await page.$eval(`${repaired} td.last-ms`, (e) => e.textContent)).toBe("50");
    expect(await page.$$eval(`${repaired} .strip i`, (marks) => marks.length)).toBe(20);

    // The paused task, forced while paused: who, why and until; no "last ms 0" beside "last run never".
    const pausedRow = await page.$eval('#tasks tr[data-task="cleanup-orphaned-menus"]', (tr) => ({
      text: tr.textContent ?? "",
      lastMs: tr.querySelectorAll("td.last-ms").length,
    }));
    expect(pausedRow.text).toMatch(
      new RegExp(
        `paused by ${DEMO_OPERATOR} since \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC, until \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC: the menus migration is running`,
      ),
    );
    expect(pausedRow.text).toContain("last run never");
    expect(pausedRow.lastMs).toBe(0);

    // The chart names the task of each point; the email side in a line.
    expect(await page.textContent("#chart-caption")).toBe("145 runs, 8 failed");
    expect(await page.$$eval("#chart-tasks span", (spans) => spans.map((s) => s.dataset.task))).toEqual([
      "auto-cancel-unconfirmed-orders",
      "driver-inactivity-check",
      "cleanup-orphaned-menus",
      "generate-daily-stats",
    ]);
    expect(await page.textContent("#email-line")).toMatch(
      /^Email: 3 queued \(oldest \d+ min ago\), 2 dead, 2 in the local mailbox$/,
    );
    expect(problems).toEqual([]);
    await page.close();
  });

  it("when an operator pauses, resumes and runs a task from its page, then each is done as them, recorded, and the page shows it", async () => {
    const { page, problems } = await watchedPage(browser!.context);
    await openView(page, consoleUrl, "#task=cleanup-orphaned-menus");
    expect(await page.textContent("#pause")).toMatch(
      new RegExp(`^paused by ${DEMO_OPERATOR} since .+ UTC, until .+ UTC: the menus`),
    );
    expect(await page.$$eval("#next-fires li", (lis) => lis.length)).toBe(0);

    await page.click("#resume");
    await expect.poll(() => page.textContent("#notice")).toMatch(/^resume cleanup-orphaned-menus: resumed/);
    const resumed = await db.pool.query(
      "SELECT resumed_by FROM scheduler.task_pauses WHERE task = 'cleanup-orphaned-menus'",
    );
    expect(resumed.rows).toEqual([{ resumed_by: OPERATOR }]);
    await page.waitForSelector("#next-fires li");
    expect(await page.textContent("#pause")).toBe("not paused");

    await page.fill("#pause-form input[name=reason]", "checking the menus by hand");
    await page.fill("#pause-form input[name=until]", "30m");
    await page.click("#pause-form button");
    await expect
      .poll(() => page.textContent("#notice"))
      .toMatch(/^pause cleanup-orphaned-menus: paused until/);
    const pause = await db.pool.query<{ paused_by: string; reason: string; minutes: number }>(
      "SELECT paused_by, reason, round(extract(epoch FROM until - paused_at) / 60)::int AS minutes FROM scheduler.task_pauses WHERE task = 'cleanup-orphaned-menus'",
    );
    expect(pause.rows).toEqual([{ paused_by: OPERATOR, reason: "checking the menus by hand", minutes: 30 }]);
    await expect.poll(() => page.textContent("#pause")).toContain("checking the menus by hand");
    expect(
      await page.$$eval("#actions-log tbody tr", (trs) => trs.map((tr) => tr.children[1]!.textContent)),
    ).toEqual([OPERATOR, OPERATOR]);

    // Run now, as a dry run (the default), then see it among the task's runs.
    await openView(page, consoleUrl, "#task=driver-inactivity-check");
    expect(await page.isChecked("#run-form input[name=dryRun]")).toBe(true);
    await page.click("#run-form button");
    await expect
      .poll(() => page.textContent("#notice"))
      .toMatch(/^run driver-inactivity-check: succeeded \(dry run\)/);
    await page.waitForSelector('#runs td.status-succeeded:text("succeeded (dry run)")');
    const manual = await db.pool.query(
      "SELECT trigger, dry_run FROM scheduler.job_runs WHERE task = 'driver-inactivity-check' AND dry_run",
    );
    expect(manual.rows).toEqual([{ trigger: "manual", dry_run: true }]);

    // Filters: only the failed runs of a task.
    await openView(page, consoleUrl, "#task=generate-daily-stats");
    await page.selectOption("#run-filters select[name=status]", "failed");
    await expect.poll(() => page.evaluate(() => location.hash)).toContain("status=failed");
    await page.waitForSelector("#runs tbody tr");
    expect(
      await page.$$eval("#runs tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-run"))),
    ).toEqual([failingRun]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("when a run's page opens, then it shows the error whole, its tick and the Cloud Logging query of its lines", async () => {
    const { page, problems } = await watchedPage(browser!.context);
    await openView(page, consoleUrl, `#run=${failingRun}`);
    const message = await page.$eval("#run-message", (pre) => [
      pre.textContent,
      getComputedStyle(pre).whiteSpace,
    ]);
    expect(message[0]).toMatch(
      /^canceling statement due to statement timeout: .+computes the same day again$/,
    );
    expect(message[1]).toBe("pre-wrap");
    expect(await page.textContent("#log-query")).toContain(`jsonPayload.runId="${failingRun}"`);
    expect(await overflowing(page)).toEqual([]);
    await openView(page, consoleUrl, "#email");
    expect(await page.$$eval("#dead tbody tr", (trs) => trs.length)).toBe(2);
    expect(await page.textContent("pre.requeue")).toBe(
      "npm run cli -- requeue --task send-order-confirmations",
    );
    await page.click("#mailbox details[data-message] summary >> nth=0");
    expect(await page.textContent("#mailbox details[open] pre")).toContain("Good news: Sushi Bar");
    expect(problems).toEqual([]);
    await page.close();
  });

  it("when another page in the browser, or a caller without a token, asks for an action, then it is refused and nothing changes", async () => {
    const before = await actionState();
    // A hostile page on another port of the same machine: a form post, a no-cors fetch, and a
    // fetch with the dashboard's header (which needs a CORS preflight that is never granted).
    const hostile = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><form id="f" method="POST" enctype="text/plain" action="${consoleUrl}/actions/pause">
        <input name='{"task":"generate-daily-stats","reason":"forged","x":"' value='"}'></form>
        <script>
          fetch("${consoleUrl}/actions/pause", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
            body: JSON.stringify({ task: "generate-daily-stats", reason: "forged" }) }).catch(() => {});
          fetch("${consoleUrl}/actions/pause", { method: "POST", headers: { "content-type": "application/json", "${ACTION_HEADER}": "1" },
            body: JSON.stringify({ task: "generate-daily-stats", reason: "forged" }) })
            .then(() => { document.title = "reached"; }, () => { document.title = "blocked"; })
            .finally(() => document.getElementById("f").submit());
        </script>`);
    });
    await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve));
    const hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/`;
    const page = await browser!.context.newPage();
    try {
      await page.goto(hostileUrl, { waitUntil: "commit" });
      // The form's post lands on the console's refusal.
      await page.waitForURL(`${consoleUrl}/actions/pause`);
      expect(await page.textContent("body")).toContain('"code":"forbidden"');
      expect(await actionState()).toEqual(before);
    } finally {
      await page.close();
      await new Promise<void>((resolve) => {
        hostile.closeAllConnections();
        hostile.close(() => resolve());
      });
    }
    // Straight to the function, with the dashboard's header but no token.
    const unauthenticated = await call(`${fn.url}/actions/pause`, {
      body: { task: "generate-daily-stats", reason: "no token" },
      headers: { [ACTION_HEADER]: "1" },
    });
    expect(unauthenticated.status).toBe(401);
    expect(await actionState()).toEqual(before);
  });

  it("when the database's pg_cron runs another stack's schedule, then every view shows a warning naming the setup and the task", async () => {
    // The dev stack's setup (archive-old-orders at 0 4 * * 0) in a database this function, deployed
    // without the stack's overrides, judges by the catalog (0 3 * * 0).
    await db.pool.query(
      `INSERT INTO scheduler.pg_cron_setup (stack, stack_file, setup_file, scope, jobs, loaded_by)
       VALUES ('dev', 'Pulumi.dev.yaml', 'sql/pg_cron_setup.sql', 'all-sql',
               '[{"task":"archive-old-orders","schedule":"0 4 * * 0","timeZone":"UTC","paused":false}]', 'delivery_app')`,
    );
    try {
      const { page, problems } = await watchedPage(browser!.context);
      for (const view of ["", "#task=archive-old-orders"]) {
        await openView(page, consoleUrl, view);
        await page.waitForSelector("#pgcron", { state: "visible" });
        const warning = await page.textContent("#pgcron");
        expect(warning).toMatch(
          /^pg_cron in this database runs the setup rendered for stack dev \(Pulumi\.dev\.yaml\)/,
        );
        expect(warning).toContain(
          "archive-old-orders: pg_cron runs it at `0 4 * * 0` UTC, this stack at `0 3 * * 0` UTC",
        );
      }
      expect(await overflowing(page)).toEqual([]);
      expect(problems).toEqual([]);
      await page.close();
    } finally {
      await db.pool.query("DELETE FROM scheduler.pg_cron_setup");
    }
  });

  it("when the pictures are taken, then every view is drawn", async () => {
    const written = await takePictures(browser!.context, consoleUrl, join(ROOT, "test-results"), failingRun);
    expect(written.map((path) => path.slice(path.lastIndexOf("/") + 1))).toEqual([
      "dashboard.png",
      "dashboard-task.png",
      "dashboard-run.png",
      "dashboard-email.png",
    ]);
  });
});
