/**
 * Structured logs: one JSON object per line on stdout, in Cloud Logging's format, so severity,
 * task and run id are searchable and the log-based metric of failed runs can count them.
 * Callers pass facts (task, runId, counts), never tokens, connection strings or query parameters.
 */

export type Severity = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry these fields (a request's trace, a run's task and id). */
  child(fields: LogFields): Logger;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(`${line}\n`);
};

export function createLogger(base: LogFields = {}, sink: LogSink = stdoutSink): Logger {
  const write = (severity: Severity, message: string, fields?: LogFields): void => {
    const entry: Record<string, unknown> = { severity, message, ...base, ...fields };
    for (const [key, value] of Object.entries(entry)) {
      if (value instanceof Error) entry[key] = value.message;
    }
    sink(JSON.stringify(entry));
  };
  return {
    debug: (message, fields) => write("DEBUG", message, fields),
    info: (message, fields) => write("INFO", message, fields),
    warn: (message, fields) => write("WARNING", message, fields),
    error: (message, fields) => write("ERROR", message, fields),
    child: (fields) => createLogger({ ...base, ...fields }, sink),
  };
}

/** A logger that drops everything (tests, quiet CLI modes). */
export const silentLogger: Logger = createLogger({}, () => undefined);
