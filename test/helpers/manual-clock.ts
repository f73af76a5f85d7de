/** A clock for tests of the local scheduler: nothing fires until the test moves time. */
import type { Clock } from "../../scripts/local/local-scheduler.js";

/** Time moves only when the test advances it, firing due timers in order. */
export class ManualClock implements Clock {
  private current: number;
  private sequence = 0;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();

  constructor(start: Date | number) {
    this.current = typeof start === "number" ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  setTimer(callback: () => void, ms: number): unknown {
    const id = ++this.sequence;
    this.timers.set(id, { at: this.current + Math.max(ms, 0), callback });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Pending timers (tests assert on them). */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time to `target`, firing each due timer at its own time, and lets the promises a fired
   * timer starts settle (`settle`) before the next timer, so requests in flight complete in order.
   */
  async advanceTo(target: Date | number, settle: () => Promise<void> = async () => undefined): Promise<void> {
    const end = typeof target === "number" ? target : target.getTime();
    for (;;) {
      await settle();
      let nextId: number | undefined;
      let nextAt = Infinity;
      for (const [id, timer] of this.timers) {
        if (timer.at < nextAt || (timer.at === nextAt && nextId !== undefined && id < nextId)) {
          nextAt = timer.at;
          nextId = id;
        }
      }
      if (nextId === undefined || nextAt > end) break;
      const timer = this.timers.get(nextId);
      this.timers.delete(nextId);
      this.current = Math.max(this.current, nextAt);
      timer?.callback();
    }
    this.current = Math.max(this.current, end);
    await settle();
  }

  /** Suspends the process: time jumps without any timer firing (a laptop asleep). */
  jump(ms: number): void {
    this.current += ms;
  }
}
