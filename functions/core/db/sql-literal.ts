/**
 * Values written into SQL text, the one home of SQL quoting: a simple query takes no parameters
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SIMPLE-QUERY), so what
 * the runner sends in one goes as literals. Text is quoted by the driver's `escapeLiteral`; a number
 * is written only when it is a non-negative integer; nothing else is accepted. Imports no runtime
 * module: the driver's quoting comes with the connection.
 */
import type { PoolClient } from "./pool.js";

export type SqlValue = string | number | boolean | Date | null;

/** What quoting needs of a connection: pg's escapeLiteral, which reads nothing of the session. */
export type Quoter = Pick<PoolClient, "escapeLiteral">;

/** A value as an SQL literal; a time is its instant as quoted ISO text, cast to timestamptz. */
export function sqlLiteral(quoter: Quoter, value: SqlValue): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return integerLiteral(value);
  if (value instanceof Date) return `${quoter.escapeLiteral(value.toISOString())}::timestamptz`;
  return quoter.escapeLiteral(value);
}

/**
 * A non-negative integer (a row count, a size, milliseconds, a run's id as the database gave it),
 * written as digits; anything else is refused rather than sent.
 */
export function integerLiteral(value: number | string): string {
  const valid = typeof value === "number" ? Number.isSafeInteger(value) && value >= 0 : /^\d+$/.test(value);
  if (!valid) throw new Error(`refusing to send ${String(value)} as an integer literal`);
  return String(value);
}
