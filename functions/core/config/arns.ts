/**
 * The AWS resource names the function reads, as AWS's API references give their patterns: the
 * Lambda's event carries a schedule's ARN, its environment names the schedule group and the
 * SendGrid key's secret. One home, for the event's reader (functions/aws/event.ts) and the
 * environment table (./environment.ts). Dependency-free.
 */

/**
 * A schedule's ARN, `arn:<partition>:scheduler:<region>:<account>:schedule/<group>/<name>`
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_ScheduleSummary.html); groups:
 * the account's part, the group, the schedule's name.
 */
export const scheduleArnPattern =
  /^(arn:aws(?:-[a-z]+)?:scheduler:[a-z0-9-]+:\d{12}):schedule\/([0-9a-zA-Z_.-]{1,64})\/([0-9a-zA-Z_.-]{1,64})$/;

/**
 * A schedule group's ARN, `arn:<partition>:scheduler:<region>:<account>:schedule-group/<group>`
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_ScheduleGroupSummary.html);
 * groups: the account's part, the group.
 */
export const scheduleGroupArnPattern =
  /^(arn:aws(?:-[a-z]+)?:scheduler:[a-z0-9-]+:\d{12}):schedule-group\/([0-9a-zA-Z_.-]{1,64})$/;

/**
 * A Secrets Manager secret's ARN: its name and six random characters after the account
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
 */
export const secretArnPattern =
  /^arn:aws(?:-[a-z]+)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$/;

/**
 * The schedule's name when `scheduleArn` is a schedule of the group `groupArn` names (same
 * partition, region, account and group), else undefined.
 */
export function scheduleNameIn(groupArn: string, scheduleArn: string): string | undefined {
  const group = scheduleGroupArnPattern.exec(groupArn);
  const schedule = scheduleArnPattern.exec(scheduleArn);
  if (!group || !schedule || group[1] !== schedule[1] || group[2] !== schedule[2]) return undefined;
  return schedule[3];
}
