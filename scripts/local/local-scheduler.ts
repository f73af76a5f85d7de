/**
 * A local Cloud Scheduler: fires every unpaused job of the catalog on its cron, in its time zone, at
 * the local function, with what Cloud Scheduler sends (JSON body `{"task": name}`, its headers and an
 * OIDC token), and retries a non-2xx answer by the job's retry policy.
 *
 * Like Cloud Scheduler it fires each schedule time at most once, never runs two executions of one
 * job at the same time (a tick that comes while the previous one is still going waits for it), stops
 * retrying when the next tick is due, and does not replay ticks it missed while the process was
 * suspended (`npm run cli -- missed` lists them; `run --slot` backfills one).
 *
 * The clock is injected, so tests drive it without waiting.
 */
import type { PostAnswer, TaskBody } from "../../functions/gcp/contract.js";
import type { Job } from "../../functions/core/schedule/jobs.js";
import { fireTimesBetween, nextFireTime } from "../../functions/core/schedule/fire-times.js";
import { retryBackoffSeconds } from "../lib/jobs.js";

export interface Clock {
  now(): number;
  /** Calls `callback` after `ms` (a real timer, or a test's virtual one). */
  setTimer(callback: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface Attempt {
  readonly job: string;
  readonly scheduleTime: Date;
  /** 1 for the first attempt of a tick, then 2, 3, ... for its retries. */
  readonly attempt: number;
  readonly status: number | undefined;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
  /** The function's answer; its text when it is not JSON. */
  readonly body?: PostAnswer | string;
}

/** A force run's answer: the schedule time it sent, if any. */
type ForceRun = Omit<Attempt, "scheduleTime"> & { readonly scheduleTime: Date | undefined };

/** What one delivery attempt came to, however it was delivered. */
export type Delivered = Pick<Attempt, "status" | "ok" | "error" | "body">;

/**
 * Delivers one attempt of a tick another way than Cloud Scheduler's POST: the local EventBridge
 * Scheduler's asynchronous invoke of the local Lambda (scripts/local/local-eventbridge.ts).
 */
export type Deliver = (job: Job, scheduleTime: Date, attempt: number) => Promise<Delivered>;

/** Cloud Scheduler's POST to the function's URL with a fresh OIDC ID token, or another delivery. */
type SchedulerTarget =
  | {
      /** The function's URL (POST target). */
      readonly url: string;
      /** A fresh OIDC ID token for a request to the function. */
      readonly token: () => string | Promise<string>;
      readonly deliver?: undefined;
    }
  | { readonly deliver: Deliver; readonly url?: undefined; readonly token?: undefined };

type LocalSchedulerOptions = SchedulerTarget & {
  readonly jobs: readonly Job[];
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
  /** Cloud Scheduler's job resource name prefix; the job id is the task name. */
  readonly jobNamePrefix?: string;
  /**
   * A tick found this late (the process was suspended, the laptop slept) is not fired: Cloud
   * Scheduler does not replay a backlog either.
   */
  readonly lateToleranceMs?: number;
  readonly onAttempt?: (attempt: Attempt) => void;
  readonly onSkippedBacklog?: (job: string, missed: Date[]) => void;
};

interface JobState {
  readonly job: Job;
  next: Date | undefined;
  /** The last schedule time fired (or skipped): never fired again. */
  last: Date | undefined;
  running: Promise<void> | undefined;
  /** A tick that came due while the previous execution was still going. */
  queued: Date | undefined;
}

/** The project the local stack's jobs and function say they are in. */
export const LOCAL_PROJECT = "local-dev";
const DEFAULT_JOB_NAME_PREFIX = `projects/${LOCAL_PROJECT}/locations/local/jobs/`;

export class LocalScheduler {
  private readonly clock: Clock;
  private readonly fetchImpl: typeof fetch;
  private readonly states: JobState[];
  private timer: unknown;
  private stopped = true;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly lateToleranceMs: number;
  private requests = 0;
  private readonly sleepers = new Map<() => void, unknown>();

  constructor(private readonly options: LocalSchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    this.fetchImpl = options.fetch ?? fetch;
    this.lateToleranceMs = options.lateToleranceMs ?? 60_000;
    this.states = options.jobs
      .filter((job) => !job.paused)
      .map((job) => ({ job, next: undefined, last: undefined, running: undefined, queued: undefined }));
  }

  /** The jobs that fire (paused ones never do) and their next schedule times. */
  get schedule(): { job: string; next: Date | undefined }[] {
    return this.states.map((state) => ({ job: state.job.name, next: state.next }));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const now = new Date(this.clock.now());
    for (const state of this.states) state.next = this.nextAfter(state, now);
    this.arm();
  }

  /** Stops firing and waits for the attempts in flight (their retries are abandoned). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    for (const [wake, handle] of this.sleepers) {
      this.clock.clearTimer(handle);
      wake();
    }
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when no execution is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Resolves when no request is on the wire: every execution has ended or waits on the clock for
   * its next retry. Tests call it between steps of a manual clock.
   */
  async settled(): Promise<void> {
    // A timer's callback starts its request in a later microtask: let those run before looking.
    do await new Promise((resolve) => setImmediate(resolve));
    while (this.requests > 0);
  }

  private nextAfter(state: JobState, after: Date): Date | undefined {
    const floor = state.last && state.last.getTime() >= after.getTime() ? state.last : after;
    return nextFireTime(state.job, floor);
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    const due = this.states
      .map((state) => state.next?.getTime())
      .filter((time): time is number => time !== undefined);
    if (due.length === 0) {
      this.timer = undefined;
      return;
    }
    // Long timers drift and Node caps them at ~24.8 days: wake at least every minute and re-check.
    const wait = Math.min(Math.max(Math.min(...due) - this.clock.now(), 0), 60_000);
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.tick();
    }, wait);
  }

  private tick(): void {
    if (this.stopped) return;
    const nowMs = this.clock.now();
    const now = new Date(nowMs);
    for (const state of this.states) {
      const due = state.next;
      if (!due || due.getTime() > nowMs) continue;
      if (nowMs - due.getTime() > this.lateToleranceMs) {
        // Woke up long after the tick (the process was suspended): skip the backlog, as Cloud Scheduler.
        const missed = [due, ...fireTimesBetween(state.job, due, now)];
        state.last = missed[missed.length - 1];
        state.next = this.nextAfter(state, now);
        this.options.onSkippedBacklog?.(state.job.name, missed);
        continue;
      }
      state.last = due;
      state.next = this.nextAfter(state, now);
      this.dispatch(state, due);
    }
    this.arm();
  }

  private dispatch(state: JobState, scheduleTime: Date): void {
    if (state.running) {
      // Cloud Scheduler never has two executions of a job outstanding: the tick waits.
      state.queued = scheduleTime;
      return;
    }
    const execution = this.execute(state, scheduleTime).finally(() => {
      state.running = undefined;
      this.inFlight.delete(execution);
      const queued = state.queued;
      state.queued = undefined;
      if (queued && !this.stopped) this.dispatch(state, queued);
    });
    state.running = execution;
    this.inFlight.add(execution);
  }

  /** One tick: the first attempt, then retries by the job's policy until one succeeds or the next tick is due. */
  private async execute(state: JobState, scheduleTime: Date): Promise<void> {
    const { job } = state;
    for (let attempt = 1; ; attempt += 1) {
      const result = await this.attempt(job, scheduleTime, attempt);
      this.options.onAttempt?.(result);
      if (result.ok || this.stopped) return;
      const retryIndex = attempt - 1;
      if (retryIndex >= job.retry.retryCount) return;
      const waitMs = retryBackoffSeconds(job.retry, retryIndex) * 1000;
      const nextTick = state.next?.getTime();
      if (nextTick !== undefined && this.clock.now() + waitMs >= nextTick) return;
      await this.sleep(waitMs);
      if (this.stopped) return;
    }
  }

  /** A wait on the scheduler's clock that `stop()` cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        resolve();
      };
      const handle = this.clock.setTimer(wake, ms);
      this.sleepers.set(wake, handle);
    });
  }

  private async attempt(job: Job, scheduleTime: Date, attempt: number): Promise<Attempt> {
    this.requests += 1;
    try {
      const { deliver } = this.options;
      if (!deliver) return await this.request(job, scheduleTime, attempt);
      const started = this.clock.now();
      const delivered = await deliver(job, scheduleTime, attempt);
      return { job: job.name, scheduleTime, attempt, ...delivered, durationMs: this.clock.now() - started };
    } finally {
      this.requests -= 1;
    }
  }

  /**
   * What the Cloud Scheduler console's "Force run" (or `gcloud scheduler jobs run`) sends: Google
   * documents that its X-CloudScheduler-ScheduleTime may carry the next scheduled run's time, or be
   * omitted (https://cloud.google.com/scheduler/docs/configuring/deduplicate-job-requests). One
   * attempt, outside the job's ticks: the function runs it as a manual run and the tick still runs.
   */
  async forceRun(name: string, options: { readonly scheduleTime: "next" | "none" }): Promise<ForceRun> {
    const job = this.options.jobs.find((candidate) => candidate.name === name);
    if (!job) throw new Error(`no job named "${name}"`);
    const scheduleTime =
      options.scheduleTime === "next" ? nextFireTime(job, new Date(this.clock.now())) : undefined;
    this.requests += 1;
    try {
      return await this.request(job, scheduleTime, 1);
    } finally {
      this.requests -= 1;
    }
  }

  private async request(job: Job, scheduleTime: Date, attempt: number): Promise<Attempt>;
  private async request(job: Job, scheduleTime: Date | undefined, attempt: number): Promise<ForceRun>;
  private async request(job: Job, scheduleTime: Date | undefined, attempt: number): Promise<ForceRun> {
    const started = this.clock.now();
    const base = { job: job.name, scheduleTime, attempt };
    const { url, token } = this.options;
    if (url === undefined) throw new Error("this scheduler delivers to no URL");
    const controller = new AbortController();
    // The attempt deadline is measured in real time even under a test clock: it bounds a real request.
    const deadline = setTimeout(() => controller.abort(), job.attemptDeadlineSeconds * 1000);
    try {
      const response = await this.fetchImpl(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "Google-Cloud-Scheduler",
          "X-CloudScheduler": "true",
          "X-CloudScheduler-JobName": `${this.options.jobNamePrefix ?? DEFAULT_JOB_NAME_PREFIX}${job.name}`,
          // RFC 3339 in UTC ("Zulu"), as Cloud Scheduler sends it for unix-cron jobs.
          ...(scheduleTime
            ? { "X-CloudScheduler-ScheduleTime": scheduleTime.toISOString().replace(/\.000Z$/, "Z") }
            : {}),
          Authorization: `Bearer ${await token()}`,
        },
        body: JSON.stringify({ task: job.name } satisfies TaskBody),
        signal: controller.signal,
      });
      const text = await response.text();
      let body: PostAnswer | string = text;
      try {
        body = JSON.parse(text) as PostAnswer;
      } catch {
        // Not JSON: keep the text.
      }
      return {
        ...base,
        status: response.status,
        ok: response.ok,
        durationMs: this.clock.now() - started,
        body,
      };
    } catch (error) {
      const message = controller.signal.aborted
        ? `no answer within the attempt deadline of ${job.attemptDeadlineSeconds} s`
        : (error as Error).message;
      return {
        ...base,
        status: undefined,
        ok: false,
        durationMs: this.clock.now() - started,
        error: message,
      };
    } finally {
      clearTimeout(deadline);
    }
  }
}
