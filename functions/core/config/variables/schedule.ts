/** The schedule variables of the function's table (../environment.ts): the stack's overrides, AWS's schedule group. */

import { tasks } from "../../catalog.js";
import type { JobOverrides } from "../../schedule/jobs.js";
import { overridesOf, resolveJobs } from "../../schedule/jobs.js";
import { scheduleGroupArnPattern } from "../arns.js";
import { asText, define } from "./variable.js";

export const scheduleVariables = {
  TASK_OVERRIDES: define<JobOverrides>({
    group: "schedule",
    doc: 'The stack\'s job overrides, JSON `{"<task>": {"schedule", "timeZone", "paused", "attemptDeadlineSeconds"}}`, so lookups, health and overdue alerts follow what Cloud Scheduler runs.',
    secret: false,
    required: "no",
    default: {},
    unset: "the catalog's schedules",
    deployed: "what `scheduled-jobs:taskOverrides` changes (absent when nothing)",
    example: '{"archive-old-orders":{"schedule":"0 4 * * 0","timeZone":"Europe/Paris"}}',
    parse: parseTaskOverrides,
    write: (overrides) => JSON.stringify(overrides),
    omit: (overrides) => Object.keys(overrides).length === 0,
  }),
  SCHEDULE_GROUP_ARN: define<string>({
    group: "schedule",
    doc: "The Lambda's schedule group (`arn:aws:scheduler:<region>:<account>:schedule-group/<group>`): a tick is one of its schedules named for the task, and any other delivery is a manual run; the Lambda refuses every invoke without it.",
    secret: false,
    required: "on Lambda",
    deployed: "the stack's schedule group",
    deployedOn: "aws",
    example: "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/scheduled-jobs",
    missing:
      "SCHEDULE_GROUP_ARN is not set: the Lambda cannot tell its schedules' ticks from other deliveries, so it refuses every invoke",
    parse(text, problems) {
      if (scheduleGroupArnPattern.test(text)) return text;
      problems.push(
        "SCHEDULE_GROUP_ARN must be a schedule group's ARN: arn:aws:scheduler:<region>:<account>:schedule-group/<group>",
      );
      return undefined;
    },
    write: asText,
  }),
};

/**
 * TASK_OVERRIDES: a JSON object {taskName: {schedule?, timeZone?, paused?, attemptDeadlineSeconds?}},
 * what the Pulumi program (or the local stack) resolved from the stack's config. Checked by the one
 * rule for overrides, `resolveJobs` (names, fields, Cloud Scheduler's unix-cron, zones, deadlines),
 * and returned as `overridesOf` writes them, so writing what was read gives the same text.
 */
function parseTaskOverrides(text: string, problems: string[]): JobOverrides | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push("TASK_OVERRIDES is not valid JSON");
    return undefined;
  }
  const resolved = resolveJobs(tasks, { overrides: parsed, source: "TASK_OVERRIDES" });
  if (resolved.problems.length > 0) {
    problems.push(...resolved.problems);
    return undefined;
  }
  return overridesOf(tasks, resolved.jobs);
}
