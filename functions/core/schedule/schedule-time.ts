/**
 * A scheduler's schedule time, read strictly: Cloud Scheduler's X-CloudScheduler-ScheduleTime and
 * EventBridge Scheduler's `<aws.scheduler.scheduled-time>` are both RFC 3339 instants ("Zulu" in
 * every example their pages give: https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs,
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html).
 * Dependency-free: loaded at every cold start.
 */

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/i;

/**
 * The time the text names, or undefined. `new Date` rolls impossible dates over ("2026-02-30"
 * becomes March 2nd) instead of refusing them, so each field is checked against the calendar: a
 * tick that never existed must not be recorded as another one.
 */
export function parseScheduleTime(text: string): Date | undefined {
  const match = rfc3339.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = match[9] === undefined || (Number(match[9]) <= 23 && Number(match[10]) <= 59);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const time = new Date(text);
  return offsetOk && !Number.isNaN(time.getTime()) ? time : undefined;
}
