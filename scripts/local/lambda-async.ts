/**
 * Lambda's asynchronous invocation, on this machine: an event is accepted at once (the Invoke API
 * answers 202), then run on the local Lambda; when the function returns an error, Lambda runs the
 * same event again, by default twice more, one minute and then two minutes later
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html), the retry
 * count being set per function, 0 to 2 (`FunctionEventInvokeConfig`,
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html). The waits are on
 * the injected clock, so a test drives them without waiting. Lambda may also deliver an event more
 * than once without any error: callers that mean to show it call `invokeAsync` twice.
 */
import type { InvokeResult, LocalLambda } from "./lambda-host.js";
import type { Clock } from "./local-scheduler.js";
import { systemClock } from "./local-scheduler.js";

/** Lambda's waits before its second and third attempt of a failed event. */
const ASYNC_RETRY_DELAYS_MS = [60_000, 120_000] as const;

export interface AsyncAttempt {
  readonly event: unknown;
  /** 1 for Lambda's first run of the event, then 2 and 3 for its retries. */
  readonly attempt: number;
  readonly result: InvokeResult;
  /** Another attempt will come. */
  readonly willRetry: boolean;
}

interface AsyncInvokerOptions {
  readonly lambda: Pick<LocalLambda, "invoke">;
  /** Lambda's MaximumRetryAttempts for the function: 0 to 2 (default 2). */
  readonly maximumRetryAttempts?: number;
  readonly clock?: Clock;
  readonly onAttempt?: (attempt: AsyncAttempt) => void;
}

export class AsyncInvoker {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly sleepers = new Map<() => void, unknown>();
  private stopped = false;
  /** Invokes on the wire now (not those waiting on the clock for a retry). */
  private invoking = 0;
  private readonly clock: Clock;
  private readonly retries: number;

  constructor(private readonly options: AsyncInvokerOptions) {
    this.clock = options.clock ?? systemClock;
    const retries = options.maximumRetryAttempts ?? 2;
    if (!Number.isInteger(retries) || retries < 0 || retries > 2) {
      throw new Error("maximumRetryAttempts must be 0, 1 or 2 (Lambda's range for asynchronous invokes)");
    }
    this.retries = retries;
  }

  /** Accepts the event (as the Invoke API's 202) and runs it in the background. */
  invokeAsync(event: unknown): void {
    if (this.stopped) throw new Error("the local Lambda's event queue is stopped");
    const run = this.run(event).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  /** Resolves when every accepted event has run, its retries included (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Resolves when no invoke is running: every accepted event has run, or waits on the clock for
   * Lambda's next retry. Tests call it between steps of a manual clock.
   */
  async settled(): Promise<void> {
    do await new Promise((resolve) => setTimeout(resolve, 10));
    while (this.invoking > 0);
  }

  /** Stops: retries waiting on the clock are abandoned, runs in progress are awaited. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [wake, handle] of this.sleepers) {
      this.clock.clearTimer(handle);
      wake();
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(event: unknown): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      this.invoking += 1;
      let result: InvokeResult;
      try {
        result = await this.options.lambda.invoke(event);
      } finally {
        this.invoking -= 1;
      }
      const willRetry = !result.ok && attempt <= this.retries && !this.stopped;
      this.options.onAttempt?.({ event, attempt, result, willRetry });
      if (!willRetry) return;
      await this.sleep(ASYNC_RETRY_DELAYS_MS[attempt - 1]!);
      if (this.stopped) return;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.set(wake, this.clock.setTimer(wake, ms));
    });
  }
}
