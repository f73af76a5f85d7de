/** What every benchmark module is given: the server, the sizes, and a progress log (stderr). */
import type { BenchOptions } from "./options.js";
import type { BenchServer } from "./postgres.js";

export interface BenchContext {
  readonly server: BenchServer;
  readonly options: BenchOptions;
  /** Progress lines go to stderr, so stdout carries the table alone. */
  log(line: string): void;
}

/** "5M", "100k", "1.14M" */
export function count(n: number): string {
  if (n >= 1_000_000) return `${+(n / 1_000_000).toFixed(2)}M`;
  if (n >= 1_000) return `${+(n / 1_000).toFixed(1)}k`;
  return String(n);
}
