/**
 * The dashboard in a real browser: Debian's Chromium, driven by playwright-core. CI installs
 * Chromium (.ci/run), so there a missing browser fails the test; on a developer's machine without
 * it the test is skipped and says why.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { taskNames } from "../../functions/core/catalog.js";
import { createLogger } from "../../functions/core/log.js";
import type { CertsServer } from "../../scripts/local/dev-identity.js";
import { createDevIdentity, serveCerts } from "../../scripts/local/dev-identity.js";
import { ROOT, serveConsole } from "../../scripts/local/local-stack.js";
import { useTestDatabase } from "../helpers/database.js";
import type { RunningFunction } from "../helpers/function-server.js";
import { startFunction } from "../helpers/function-server.js";

// The browser's own, inside the functions page.$eval serializes into the page (this project's types
// have no DOM library).
declare function getComputedStyle(element: unknown): {
  color: string;
  backgroundColor: string;
  whiteSpace: string;
};

const CHROMIUM = "/usr/bin/chromium";
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

const db = useTestDatabase();
let certs: CertsServer;
let fn: RunningFunction;
let consoleServer: Server;
let consoleUrl: string;

beforeAll(async () => {
  const identity = createDevIdentity({ audience: "http://localhost:8080" });
  certs = await serveCerts(identity);
  fn = await startFunction({
    env: {
      DATABASE_URL: db.url,
      AUTH_AUDIENCE: "http://localhost:8080",
      AUTH_ALLOWED_EMAILS: identity.email,
      AUTH_CERTS_URL: certs.url,
    },
    log: createLogger({}, () => undefined),
  });
  consoleServer = await serveConsole(0, fn.url, () => identity.signIdToken());
  consoleUrl = `http://127.0.0.1:${(consoleServer.address() as AddressInfo).port}`;
  // Two hours of history: steady successes of two tasks and a few failures.
  await db.pool.query(`
    INSERT INTO scheduler.job_runs (task, trigger, status, rows_affected, started_at, finished_at, duration_ms, error_code, message)
    SELECT 'auto-cancel-unconfirmed-orders', 'scheduler',
           CASE WHEN g % 17 = 0 THEN 'failed' ELSE 'succeeded' END, g % 3,
           now() - make_interval(mins => 120 - g), now() - make_interval(mins => 120 - g), 20 + (g * 7) % 90,
           CASE WHEN g % 17 = 0 THEN 'task_failed' END,
           CASE WHEN g % 17 = 0 THEN 'canceling statement due to lock timeout' END
    FROM generate_series(1, 120) g;
    INSERT INTO scheduler.job_runs (task, trigger, status, rows_affected, started_at, finished_at, duration_ms)
    SELECT 'driver-inactivity-check', 'scheduler', 'succeeded', 1,
           now() - make_interval(mins => 120 - g * 5), now() - make_interval(mins => 120 - g * 5), 150 + g
    FROM generate_series(1, 23) g;
    INSERT INTO scheduler.job_runs (task, trigger, status, started_at, finished_at, duration_ms, error_code, message)
    VALUES ('generate-daily-stats', 'cli', 'failed', now() - interval '10 minutes', now() - interval '10 minutes', 3200,
            'timeout', 'canceling statement due to statement timeout');
  `);
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    consoleServer?.closeAllConnections();
    consoleServer?.close(() => resolve());
  });
  await fn?.close();
  await certs?.close();
});

describe.skipIf(!haveChromium)("the dashboard in headless Chromium", () => {
  it("when the page loads, then it shows every task and a chart of recent runs, with no console error", async () => {
    const profile = mkdtempSync(join(tmpdir(), "sj-chromium-"));
    // A fresh profile per run: playwright takes it as the persistent context's user-data-dir.
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 1000 },
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
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") problems.push(`console: ${message.text()}`);
      });
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
      const elsewhere: string[] = [];
      page.on("request", (request) => {
        if (!request.url().startsWith(consoleUrl) && !request.url().startsWith("data:"))
          elsewhere.push(request.url());
      });

      const response = await page.goto(`${consoleUrl}/dashboard`);
      expect(response?.status()).toBe(200);
      await page.waitForSelector("#chart svg .run");
      await page.waitForFunction(
        `document.querySelectorAll("#tasks tbody tr").length === ${taskNames.length}`,
      );

      const rows = await page.$$eval("#tasks tbody tr", (trs) =>
        trs.map((tr) => tr.getAttribute("data-task")),
      );
      expect(rows).toEqual([...taskNames]);
      const stats = await page.$eval(
        '#tasks tr[data-task="generate-daily-stats"]',
        (tr) => tr.textContent ?? "",
      );
      expect(stats).toContain("canceling statement due to statement timeout");
      expect(await page.textContent("#overall")).toBe("needs attention");

      const marks = await page.$$eval("#chart svg .run", (nodes) =>
        nodes.map((n) => n.getAttribute("class")),
      );
      expect(marks.length).toBe(120 + 23 + 1);
      expect(marks.filter((c) => c === "run run-failed")).toHaveLength(7 + 1);
      expect(await page.textContent("#chart-caption")).toBe("144 runs, 8 failed");

      // A failing task is red in the badge, its row and its strip.
      const RED = "rgb(207, 34, 46)";
      const failing = '#tasks tr[data-task="generate-daily-stats"]';
      expect(await page.$eval("#overall", (e) => [e.className, getComputedStyle(e).backgroundColor])).toEqual(
        ["pill attention", RED],
      );
      expect(await page.$eval(`${failing} td.status-failed`, (e) => getComputedStyle(e).color)).toBe(RED);
      expect(
        await page.$$eval(`${failing} .strip i`, (marks) =>
          marks.map((m) => [m.className, getComputedStyle(m).backgroundColor]),
        ),
      ).toEqual([["strip-failed", RED]]);
      expect(await page.$eval(`${failing} td.last-ms`, (e) => e.textContent)).toBe("3200");
      // The strip holds the last 20 runs of a task with 120.
      expect(
        await page.$$eval('#tasks tr[data-task="auto-cancel-unconfirmed-orders"] .strip i', (m) => m.length),
      ).toBe(20);

      // Times in UTC, named; schedules in words beside the cron.
      const cells = await page.$eval(failing, (tr) =>
        [...tr.querySelectorAll("td")].map((td) => td.textContent),
      );
      expect(cells[1]).toBe("daily at 00:05 UTC 5 0 * * *");
      expect(cells[2]).toMatch(/^\d{4}-\d{2}-\d{2} 00:05:00 UTC$/);
      expect(cells[3]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
      const schedules = await page.$$eval("#tasks tbody tr", (trs) =>
        trs.map((tr) => tr.querySelectorAll("td")[1]!.textContent),
      );
      expect(schedules).toContain("every 5 minutes */5 * * * *");
      expect(schedules).toContain("hourly 0 * * * *");

      // The chart names the task of each point; headers never wrap.
      expect(await page.$$eval("#chart-tasks span", (spans) => spans.map((s) => s.dataset.task))).toEqual([
        "auto-cancel-unconfirmed-orders",
        "driver-inactivity-check",
        "generate-daily-stats",
      ]);
      expect(
        new Set(await page.$$eval("#tasks th", (ths) => ths.map((th) => getComputedStyle(th).whiteSpace))),
      ).toEqual(new Set(["nowrap"]));

      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-results", "dashboard.png"), fullPage: true });
      expect(problems).toEqual([]);
      expect(elsewhere).toEqual([]);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
