/**
 * Why a database connection failed, in words an operator can act on, never with the password:
 * pg's errors carry a server SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html)
 * or a Node socket code, and the URL says which user, database and host were meant.
 */

/** undefined when the URL is one pg can use; else what is wrong with it (the password never shown). */
export function malformedUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "DATABASE_URL is not a URL: expected postgres://user:password@host:5432/database";
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return `DATABASE_URL must start with postgres:// or postgresql:// (it starts with ${parsed.protocol}//)`;
  }
  if (parsed.port !== "" && !(Number(parsed.port) >= 1 && Number(parsed.port) <= 65535)) {
    return `DATABASE_URL's port ${parsed.port} is not a port`;
  }
  return undefined;
}

/** The cause of a failed connection, or undefined when `error` is not about connecting. */
export function connectionProblem(error: unknown, url: string): string | undefined {
  const err = error as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === "string" ? err.code : "";
  const message = typeof err?.message === "string" ? err.message : "";
  const malformed = malformedUrl(url);
  if (malformed) return malformed;
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username) || "(none given)";
  const database = decodeURIComponent(parsed.pathname.slice(1)) || user;
  const host = parsed.hostname || "localhost";
  const where = `${host}:${parsed.port || 5432}`;
  switch (code) {
    case "28P01":
      return `authentication failed for user "${user}" at ${where} (wrong password)`;
    case "28000":
      return `the server at ${where} refused user "${user}": ${serverReason(message, url)}`;
    case "3D000":
      return `database "${database}" does not exist at ${where}`;
    case "ECONNREFUSED":
      return `nothing listens on ${where}`;
    case "ENOTFOUND":
      return `unknown host "${host}"`;
    case "EAI_AGAIN":
      return `the host "${host}" could not be resolved (DNS did not answer)`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `no route to ${where} (${code})`;
    case "ECONNRESET":
    case "EPIPE":
      return `${where} closed the connection (${code}): is it PostgreSQL, and does it want TLS?`;
    case "53300":
      return `the server at ${where} has too many connections`;
    case "57P03":
      return `the server at ${where} is starting up or shutting down`;
  }
  if (/client password must be a string/i.test(message)) {
    return `the server at ${where} asks user "${user}" for a password and DATABASE_URL has none`;
  }
  if (/timeout expired|connection timeout/i.test(message)) return `no answer from ${where} in time`;
  if (/Connection terminated unexpectedly/i.test(message)) return `${where} closed the connection`;
  if (/does not support SSL|server does not support ssl/i.test(message)) {
    return `the server at ${where} does not support TLS, and DATABASE_URL asks for it (sslmode)`;
  }
  return undefined;
}

/** The server's own words, with the password cut out should it ever appear. */
function serverReason(message: string, url: string): string {
  const password = decodeURIComponent(new URL(url).password);
  return password ? message.split(password).join("***") : message;
}
