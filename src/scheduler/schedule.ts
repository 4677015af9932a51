/**
 * Job schedules: cron expressions (5 or 6 fields, checked by croner) and the seeds' "Cron Text"
 * form (Rocket.Chat's later.js text such as "Every 24 hours", Pocket ID's hourly sync), both
 * normalised to one cron expression.
 *
 * Text form, case-insensitive:
 * - `every second|minute|hour|day`, `hourly`, `daily`
 * - `every N seconds|minutes|hours|days` (also sec/secs/min/mins/hr/hrs). As in later.js and cron
 *   step syntax), runs fall on multiples of N within the next larger unit, so N = 5 hours runs at
 *   00:00, 05:00, … 20:00, 00:00; N may be the whole unit (60 seconds, 60 minutes, 24 hours).
 * - `every day at 02:00`, `at 2:30 pm` (daily), `every monday at 09:00`, `every hour at :15`
 *
 * A schedule in the settings (`parseSettingSchedule`) fires at most once a minute: a job that
 * starts more often only piles up runs against the directory and the store. The scheduler itself
 * accepts second-level schedules (`parseSchedule`), which its tests use.
 */
import { Cron } from 'croner';

/** A schedule as written and as the cron expression it means. */
export interface ParsedSchedule {
  /** The text as given (trimmed). */
  text: string;
  /** The cron expression: 5 fields (minute precision) or 6 (with seconds). */
  cron: string;
}

/** What the error message lists as accepted forms. */
export const SCHEDULE_FORMS =
  'a cron expression with 5 or 6 fields (e.g. "*/5 * * * *", "0 0 * * * *") or text such as "every 1 hour", "every 24 hours", "every 5 minutes", "every day at 02:00", "every monday at 09:00"';

/** Thrown for a schedule that is neither form; the message names the expected forms. */
export class ScheduleError extends Error {
  constructor(text: string, reason?: string) {
    super(`invalid schedule "${text}"${reason === undefined ? '' : ` (${reason})`}: expected ${SCHEDULE_FORMS}`);
    this.name = 'ScheduleError';
  }
}

const UNITS: Record<string, 'second' | 'minute' | 'hour' | 'day'> = {
  s: 'second',
  sec: 'second',
  secs: 'second',
  second: 'second',
  seconds: 'second',
  m: 'minute',
  min: 'minute',
  mins: 'minute',
  minute: 'minute',
  minutes: 'minute',
  h: 'hour',
  hr: 'hour',
  hrs: 'hour',
  hour: 'hour',
  hours: 'hour',
  d: 'day',
  day: 'day',
  days: 'day',
};

const WEEKDAYS: Record<string, number> = {
  sunday: 0,
  sun: 0,
  monday: 1,
  mon: 1,
  tuesday: 2,
  tue: 2,
  wednesday: 3,
  wed: 3,
  thursday: 4,
  thu: 4,
  friday: 5,
  fri: 5,
  saturday: 6,
  sat: 6,
};

/** Parses a schedule in either form; throws `ScheduleError` naming the accepted forms. */
export function parseSchedule(input: string): ParsedSchedule {
  const text = input.trim().replace(/\s+/g, ' ');
  if (text === '') throw new ScheduleError(input, 'empty');
  const cron = /^(every|at|hourly$|daily$)/i.test(text) ? fromText(text) : text;
  validateCron(cron, text);
  return { text, cron };
}

/**
 * Parses a schedule a setting holds: as `parseSchedule`, and refused when it fires more than once
 * a minute (a six-field cron whose seconds field matches several seconds, or "every 30 seconds").
 */
export function parseSettingSchedule(input: string): ParsedSchedule {
  const parsed = parseSchedule(input);
  const perMinute = runsPerMinute(parsed.cron);
  if (perMinute > 1) {
    throw new ScheduleError(
      parsed.text,
      `it fires ${perMinute} times a minute; a schedule setting fires at most once a minute, e.g. "every 1 minute" or "* * * * *"`,
    );
  }
  return parsed;
}

/**
 * How many times a minute a valid cron expression fires, in a minute where it fires at all. Only
 * a six-field expression has a seconds field; it matches the same seconds in every minute, so
 * counting its runs over one whole minute (with every other field `*`) is exact, and croner, which
 * runs the schedule, decides what the field means.
 */
function runsPerMinute(cron: string): number {
  const fields = cron.split(' ');
  if (fields.length !== 6) return 1;
  const minuteStart = new Date(2030, 0, 1, 0, 0, 0, 0);
  const job = new Cron(`${fields[0] ?? '0'} * * * * *`, { paused: true });
  try {
    return job.nextRuns(60, new Date(minuteStart.getTime() - 1)).filter((run) => run.getTime() < minuteStart.getTime() + 60_000).length;
  } finally {
    job.stop();
  }
}

/** The next `count` run times of a schedule after `from`. */
export function nextRuns(schedule: string, count: number, from: Date = new Date()): Date[] {
  return new Cron(parseSchedule(schedule).cron, { paused: true }).nextRuns(count, from);
}

function validateCron(cron: string, text: string): void {
  if (!cron.startsWith('@') && cron.split(' ').length !== 5 && cron.split(' ').length !== 6) {
    throw new ScheduleError(text, `a cron expression has 5 or 6 fields, this has ${cron.split(' ').length}`);
  }
  let job: Cron;
  try {
    job = new Cron(cron, { paused: true, mode: '5-or-6-parts' });
  } catch (error) {
    throw new ScheduleError(text, error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error));
  }
  const next = job.nextRun();
  job.stop();
  if (next === null) throw new ScheduleError(text, 'it never runs');
}

function fromText(text: string): string {
  const lower = text.toLowerCase();
  if (lower === 'hourly') return '0 * * * *';
  if (lower === 'daily') return '0 0 * * *';

  // every day at 02:00 · at 2:30 pm · every monday at 09:00
  const daily = /^(?:every (day|[a-z]+) )?at (\d{1,2})(?::(\d{2}))? ?(am|pm)?$/.exec(lower);
  if (daily !== null) {
    const [, dayWord, hourText = '', minuteText, meridiem] = daily;
    const { hour, minute } = clock(text, hourText, minuteText, meridiem);
    return `${minute} ${hour} * * ${dayOfWeek(text, dayWord)}`;
  }
  const weekly = /^every ([a-z]+)$/.exec(lower);
  if (weekly?.[1] !== undefined && weekly[1] in WEEKDAYS) return `0 0 * * ${WEEKDAYS[weekly[1]] ?? 0}`;

  // every hour at :15
  const hourAt = /^every (?:1 )?hours? at :(\d{2})$/.exec(lower);
  if (hourAt?.[1] !== undefined) {
    const minute = Number(hourAt[1]);
    if (minute > 59) throw new ScheduleError(text, 'minute must be 00-59');
    return `${minute} * * * *`;
  }

  const interval = /^every (?:(\d+) )?([a-z]+)$/.exec(lower);
  const unit = interval?.[2] === undefined ? undefined : UNITS[interval[2]];
  if (interval === null || unit === undefined) throw new ScheduleError(text);
  const count = interval[1] === undefined ? 1 : Number(interval[1]);
  if (count < 1) throw new ScheduleError(text, 'the interval must be at least 1');
  const step = (n: number) => (n === 1 ? '*' : `*/${n}`);
  switch (unit) {
    case 'second':
      if (count === 60) return '* * * * *';
      if (count > 59) throw new ScheduleError(text, 'use minutes or hours for intervals of a minute or more');
      return `${step(count)} * * * * *`;
    case 'minute':
      if (count === 60) return '0 * * * *';
      if (count > 59) throw new ScheduleError(text, 'use hours for intervals of an hour or more');
      return `${step(count)} * * * *`;
    case 'hour':
      if (count === 24) return '0 0 * * *';
      if (count > 23) throw new ScheduleError(text, 'use "every N days" or a cron expression for intervals over a day');
      return `0 ${step(count)} * * *`;
    case 'day':
      if (count > 31) throw new ScheduleError(text, 'at most every 31 days; use a cron expression for longer intervals');
      return `0 0 ${step(count)} * *`;
  }
}

function clock(text: string, hourText: string, minuteText: string | undefined, meridiem: string | undefined): { hour: number; minute: number } {
  let hour = Number(hourText);
  const minute = minuteText === undefined ? 0 : Number(minuteText);
  if (meridiem !== undefined) {
    if (hour < 1 || hour > 12) throw new ScheduleError(text, 'with am/pm the hour must be 1-12');
    hour = (hour % 12) + (meridiem === 'pm' ? 12 : 0);
  }
  if (hour > 23) throw new ScheduleError(text, 'hour must be 00-23');
  if (minute > 59) throw new ScheduleError(text, 'minute must be 00-59');
  return { hour, minute };
}

function dayOfWeek(text: string, word: string | undefined): string {
  if (word === undefined || word === 'day') return '*';
  const day = WEEKDAYS[word];
  if (day === undefined) throw new ScheduleError(text, `"${word}" is not a day of the week`);
  return String(day);
}
