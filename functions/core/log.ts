/**
 * Structured logs: one JSON object per line on stdout, in Cloud Logging's format, so severity,
 * task and run id are searchable and the log-based metric of failed runs can count them.
 * Callers pass facts (task, runId, counts), never tokens, connection strings or query parameters.
 */

type Severity = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry these fields (a request's trace, a run's task and id). */
  child(fields: LogFields): Logger;
}

type LogSink = (line: string) => void;

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

/**
 * Cloud Logging's trace fields from `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS`, so a
 * request's lines group under its trace. Without the project id the trace cannot be named.
 */
export function traceFields(header: string | undefined, projectId: string | undefined): LogFields {
  if (!header || !projectId) return {};
  const match = /^([0-9a-f]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/i.exec(header.trim());
  if (!match) return {};
  const [, traceId, spanId, sampled] = match;
  const fields: LogFields = { "logging.googleapis.com/trace": `projects/${projectId}/traces/${traceId}` };
  // The header's span id is decimal; Cloud Logging wants 16 hex digits.
  if (spanId) {
    fields["logging.googleapis.com/spanId"] = BigInt(spanId).toString(16).padStart(16, "0").slice(-16);
  }
  if (sampled !== undefined) fields["logging.googleapis.com/trace_sampled"] = sampled === "1";
  return fields;
}
