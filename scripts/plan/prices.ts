/**
 * The published prices `plan` costs a schedule at, and the durations it bills: a table with its date,
 * each figure from its vendor's page (cited beside it). Prices change; the date is printed beside
 * every cost, so a figure is never read as today's when it is not. Update the table, and its date,
 * from the pages named here. All prices in USD, list prices of the vendors' first region tier
 * (Google's Tier 1, AWS's US East (N. Virginia)): other regions and committed-use discounts differ.
 */

/** When the figures below were read from their pages. */
export const PRICES_DATE = "2026-12-07";

export const prices = {
  /**
   * Cloud Scheduler bills per job, not per run: $0.10 per job for 31 days, billed by the day; a
   * paused job counts as a job; each billing account (not project) gets 3 jobs a month free.
   * https://cloud.google.com/scheduler/pricing
   */
  cloudScheduler: { perJobMonth: 0.1, freeJobs: 3 },
  /**
   * Cloud Run (what a 2nd gen function runs on), CPU allocated only during requests, Tier 1:
   * $0.000024 per vCPU-second beyond 180,000 free, $0.0000025 per GiB-second beyond 360,000 free,
   * $0.40 per million requests beyond 2 million free, a month, per billing account; time rounded up
   * to the next 100 ms. https://cloud.google.com/run/pricing
   */
  cloudRun: {
    perVcpuSecond: 0.000024,
    freeVcpuSeconds: 180_000,
    perGibSecond: 0.0000025,
    freeGibSeconds: 360_000,
    perMillionRequests: 0.4,
    freeRequests: 2_000_000,
    billedStepMs: 100,
  },
  /**
   * EventBridge Scheduler bills per invocation: 14 million a month free, then $1.00 per million
   * (US East; some regions more, e.g. Tokyo $1.25). https://aws.amazon.com/eventbridge/pricing/
   */
  eventBridgeScheduler: { perMillionInvocations: 1.0, freeInvocations: 14_000_000 },
  /**
   * Lambda, x86: $0.20 per million requests and $0.0000166667 per GB-second (first tier), beyond
   * 1 million requests and 400,000 GB-seconds free a month; duration billed by the millisecond.
   * https://aws.amazon.com/lambda/pricing/
   */
  lambda: {
    perMillionRequests: 0.2,
    freeRequests: 1_000_000,
    perGbSecond: 0.0000166667,
    freeGbSeconds: 400_000,
    billedStepMs: 1,
  },
} as const;

/**
 * A 2nd gen function's vCPUs when the stack sets only its memory: Google's table of memory to CPU.
 * https://cloud.google.com/functions/docs/configuring/memory
 */
export const DEFAULT_VCPUS_BY_MEMORY_MIB: readonly (readonly [memoryMib: number, vcpus: number])[] = [
  [128, 0.083],
  [256, 0.167],
  [512, 0.333],
  [1024, 0.583],
  [2048, 1],
  [4096, 2],
  [8192, 2],
  [16384, 4],
  [32768, 8],
];

/** When the durations below were measured, and where they are written down. */
export const MEASURED_SOURCE = "BENCHMARKS.md, `npm run bench` of 2026-12-07";

/**
 * What one run costs in time, as the bench measured it: the function's warm request (its POST, p50,
 * with a SQL task's statement), plus the task's own measured work where the bench has a figure
 * (steady state, 5M orders). A task without a figure of its own is billed at the warm request.
 */
export const measured = {
  warmRequestMs: 2.71,
  taskMs: {
    "auto-cancel-unconfirmed-orders": 0.33,
    "driver-inactivity-check": 0.38,
    "update-restaurant-ratings": 13.3,
    "cleanup-orphaned-menus": 44.4,
    "archive-old-orders": 10.9,
    "generate-daily-stats": 2.02,
    "send-daily-vendor-reports": 832,
  } as Readonly<Record<string, number>>,
  /**
   * The pace of a batched task's backlog: the bench archived a 4M-row backlog in 33.4 s in batches
   * sized by time. The one batched SQL pace measured; `plan` uses it for every batched SQL task.
   */
  batchedRowsPerMs: 4_000_000 / 33_400,
  /** One SendGrid call of up to 1,000 messages: 10,000 vendor reports took 832 ms in 10 calls. */
  emailBatchMs: 832 / 10,
} as const;
