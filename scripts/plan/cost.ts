/**
 * What a stack's schedule costs a month on its platform's published prices (prices.ts, dated):
 * Cloud Scheduler per job beyond the free ones and Cloud Run per request and per CPU and memory
 * time on Google; EventBridge Scheduler per invocation and Lambda per request and GB-second on
 * AWS; pg_cron nothing of its own. Run time is the bench's measured durations, billed in each
 * platform's steps. Free tiers are per billing account: the cost is shown before them and after
 * them, as if the account used nothing else.
 */
import type { Job } from "../../functions/core/schedule/jobs.js";
import { pgCronSchedule } from "../generate/pg-cron-render.js";
import { countFires } from "./calendar.js";
import type { RunnerName } from "./dst.js";
import { DEFAULT_VCPUS_BY_MEMORY_MIB, measured, MEASURED_SOURCE, prices, PRICES_DATE } from "./prices.js";
import type { Cloud, FunctionSize } from "./stack.js";

/** The month costs are counted over: this many days from the window's start. */
const COST_MONTH_DAYS = 30;

interface CostLine {
  /** Who bills it: the scheduler, or the function it calls (Cloud Run, Lambda). */
  readonly platform: RunnerName | "Cloud Run" | "Lambda";
  /** What is billed: "jobs", "requests", "vCPU-seconds"... */
  readonly item: string;
  readonly quantity: number;
  /** How much of it the platform's free tier covers. */
  readonly free: number;
  /** The price of one unit. */
  readonly unitPrice: number;
  /** Before the free tier, and after it. */
  readonly gross: number;
  readonly cost: number;
}

export interface CostReport {
  readonly pricesDate: string;
  readonly month: { readonly from: string; readonly days: number };
  readonly durations: string;
  /** Runs a month per job, as its runner starts them (pg_cron: its entry's starts). */
  readonly runs: readonly { readonly task: string; readonly runner: RunnerName; readonly runs: number }[];
  readonly lines: readonly CostLine[];
  readonly gross: number;
  readonly total: number;
  readonly notes: readonly string[];
}

/** A run's time as the bench measured it, in milliseconds. */
export function runMs(task: string): number {
  return measured.warmRequestMs + (measured.taskMs[task] ?? 0);
}

const billed = (ms: number, step: number): number => (Math.ceil(ms / step) * step) / 1000;

function line(
  platform: CostLine["platform"],
  item: string,
  quantity: number,
  free: number,
  unitPrice: number,
): CostLine {
  return {
    platform,
    item,
    quantity,
    free,
    unitPrice,
    gross: quantity * unitPrice,
    cost: Math.max(0, quantity - free) * unitPrice,
  };
}

/** The vCPUs of a 2nd gen function: the stack's, or Google's default for its memory. */
function vcpusOf(size: FunctionSize): number {
  if (size.vcpus !== undefined) return size.vcpus;
  const row = DEFAULT_VCPUS_BY_MEMORY_MIB.find(([memory]) => memory >= size.memoryMib);
  return (row ?? DEFAULT_VCPUS_BY_MEMORY_MIB[DEFAULT_VCPUS_BY_MEMORY_MIB.length - 1]!)[1];
}

interface Runs {
  readonly job: Job;
  readonly runs: number;
}

function googleLines(cloudJobs: readonly Job[], runs: readonly Runs[], size: FunctionSize): CostLine[] {
  const scheduler = prices.cloudScheduler;
  const run = prices.cloudRun;
  const requests = runs.reduce((sum, r) => sum + r.runs, 0);
  const seconds = runs.reduce((sum, r) => sum + r.runs * billed(runMs(r.job.name), run.billedStepMs), 0);
  return [
    line("Cloud Scheduler", "jobs", cloudJobs.length, scheduler.freeJobs, scheduler.perJobMonth),
    line("Cloud Run", "requests", requests, run.freeRequests, run.perMillionRequests / 1e6),
    line("Cloud Run", "vCPU-seconds", seconds * vcpusOf(size), run.freeVcpuSeconds, run.perVcpuSecond),
    line("Cloud Run", "GiB-seconds", (seconds * size.memoryMib) / 1024, run.freeGibSeconds, run.perGibSecond),
  ];
}

function awsLines(runs: readonly Runs[], size: FunctionSize): CostLine[] {
  const scheduler = prices.eventBridgeScheduler;
  const lambda = prices.lambda;
  const invocations = runs.reduce((sum, r) => sum + r.runs, 0);
  const seconds = runs.reduce((sum, r) => sum + r.runs * billed(runMs(r.job.name), lambda.billedStepMs), 0);
  return [
    line(
      "EventBridge Scheduler",
      "invocations",
      invocations,
      scheduler.freeInvocations,
      scheduler.perMillionInvocations / 1e6,
    ),
    line("Lambda", "requests", invocations, lambda.freeRequests, lambda.perMillionRequests / 1e6),
    line("Lambda", "GB-seconds", (seconds * size.memoryMib) / 1024, lambda.freeGbSeconds, lambda.perGbSecond),
  ];
}

export function planCost(
  cloud: Cloud,
  jobs: readonly Job[],
  runners: ReadonlyMap<string, readonly RunnerName[]>,
  from: Date,
  size: FunctionSize,
): CostReport {
  const to = new Date(from.getTime() + COST_MONTH_DAYS * 86_400_000);
  const count = (job: { name: string; schedule: string; timeZone: string }): number =>
    countFires(job, from, to);
  const cloudJobs = jobs.filter((job) => job.runner === "cloud");
  const cloudRuns = cloudJobs.filter((job) => !job.paused).map((job) => ({ job, runs: count(job) }));
  const pgCronJobs = jobs.filter(
    (job) => job.kind === "sql" && (runners.get(job.name) ?? []).includes("pg_cron"),
  );
  // pg_cron starts a job at its entry's times: a task in another zone hourly, checked in the database.
  const pgCronRuns = pgCronJobs
    .filter((job) => !job.paused)
    .map((job) => ({ job, runs: count({ name: job.name, schedule: pgCronSchedule(job), timeZone: "UTC" }) }));
  const scheduler: RunnerName = cloud === "aws" ? "EventBridge Scheduler" : "Cloud Scheduler";
  const lines = cloud === "aws" ? awsLines(cloudRuns, size) : googleLines(cloudJobs, cloudRuns, size);
  const notes = [
    `free tiers are per billing account: the cost after them assumes the account uses nothing else`,
    `run time: ${MEASURED_SOURCE} (a warm request of ${measured.warmRequestMs} ms, plus the task's own measured work where there is a figure), billed ${cloud === "aws" ? "by the millisecond" : "in steps of 100 ms"}`,
    `the function: ${size.memoryMib} MiB${cloud === "gcp" ? `, ${vcpusOf(size)} vCPU` : ""}${size.from === "defaults" ? " (the program's defaults: the stack would be refused)" : ""}`,
  ];
  if (pgCronRuns.length > 0)
    notes.push(
      `pg_cron runs in the database: no price of its own; each start is a connection and a transaction there`,
    );
  return {
    pricesDate: PRICES_DATE,
    month: { from: from.toISOString(), days: COST_MONTH_DAYS },
    durations: MEASURED_SOURCE,
    runs: [
      ...cloudRuns.map((r) => ({ task: r.job.name, runner: scheduler, runs: r.runs })),
      ...pgCronRuns.map((r) => ({ task: r.job.name, runner: "pg_cron" as const, runs: r.runs })),
    ],
    lines,
    gross: lines.reduce((sum, l) => sum + l.gross, 0),
    total: lines.reduce((sum, l) => sum + l.cost, 0),
    notes,
  };
}
