import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSettings } from '../settings/load.ts';
import { nextRuns, parseSchedule, parseSettingSchedule } from './schedule.ts';

describe('parseSchedule', () => {
  const table: Array<[string, string]> = [
    // The seeds' Cron Text form (Rocket.Chat's default is "Every 24 hours"; Pocket ID syncs hourly).
    ['every 1 hour', '0 * * * *'],
    ['Every 24 hours', '0 0 * * *'],
    ['every 6 hours', '0 */6 * * *'],
    ['every hour', '0 * * * *'],
    ['every 5 minutes', '*/5 * * * *'],
    ['every 1 minute', '* * * * *'],
    ['every minute', '* * * * *'],
    ['every 60 minutes', '0 * * * *'],
    ['every 15 mins', '*/15 * * * *'],
    ['every 30 seconds', '*/30 * * * * *'],
    ['every second', '* * * * * *'],
    ['every 1 sec', '* * * * * *'],
    ['every 60 seconds', '* * * * *'],
    ['every day', '0 0 * * *'],
    ['every 2 days', '0 0 */2 * *'],
    ['every day at 02:00', '0 2 * * *'],
    ['every day at 2:30', '30 2 * * *'],
    ['every day at 11:15 pm', '15 23 * * *'],
    ['at 12:00 am', '0 0 * * *'],
    ['at 5:00 pm', '0 17 * * *'],
    ['every monday at 09:00', '0 9 * * 1'],
    ['every sunday', '0 0 * * 0'],
    ['every hour at :15', '15 * * * *'],
    ['hourly', '0 * * * *'],
    ['  EVERY   5   MINUTES  ', '*/5 * * * *'],
    // Cron expressions pass through, whitespace normalised.
    ['*/5 * * * *', '*/5 * * * *'],
    ['0  3 * * 1-5', '0 3 * * 1-5'],
    ['*/10 * * * * *', '*/10 * * * * *'],
    ['0 0 * * SUN', '0 0 * * SUN'],
    ['@daily', '@daily'],
  ];
  for (const [text, cron] of table) {
    it(`"${text}" → ${cron}`, () => {
      assert.equal(parseSchedule(text).cron, cron);
      assert.equal(parseSchedule(text).text, text.trim().replace(/\s+/g, ' '));
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['every', /invalid schedule/],
    ['every 0 minutes', /at least 1/],
    ['every 90 minutes', /use hours/],
    ['every 25 hours', /over a day/],
    ['every 5 fortnights', /invalid schedule/],
    ['every day at 25:00', /hour must be/],
    ['every day at 10:75', /minute must be/],
    ['every funday at 10:00', /not a day of the week/],
    ['at 13:00 pm', /1-12/],
    ['61 * * * *', /minute/],
    ['* * * *', /5 or 6 fields/],
    ['* * * * * * *', /5 or 6 fields/],
    ['0 0 31 2 *', /never runs/],
    ['sometimes', /invalid schedule/],
  ];
  for (const [text, reason] of invalid) {
    it(`rejects "${text}"`, () => {
      assert.throws(
        () => parseSchedule(text),
        (error: unknown) => {
          assert.ok(error instanceof Error);
          assert.match(error.message, reason);
          assert.match(error.message, /expected a cron expression with 5 or 6 fields .*"every 1 hour"/, 'names the expected forms');
          return true;
        },
      );
    });
  }

  it('lists the next runs', () => {
    const runs = nextRuns('every 6 hours', 3, new Date('2030-01-01T01:00:00'));
    assert.deepEqual(
      runs.map((run) => run.getHours()),
      [6, 12, 18],
    );
  });
});

describe('parseSettingSchedule: at most once a minute', () => {
  const accepted: Array<[string, string]> = [
    ['* * * * *', '* * * * *'],
    ['every minute', '* * * * *'],
    ['every 60 seconds', '* * * * *'],
    ['0 * * * * *', '0 * * * * *'],
    ['30 */5 * * * *', '30 */5 * * * *'],
    ['10-10 * * * * *', '10-10 * * * * *'],
    ['every 1 hour', '0 * * * *'],
    ['@hourly', '@hourly'],
  ];
  for (const [text, cron] of accepted) it(`takes "${text}"`, () => assert.equal(parseSettingSchedule(text).cron, cron));

  const refused: Array<[string, number]> = [
    ['every second', 60],
    ['every 30 seconds', 2],
    ['every 59 seconds', 2],
    ['every 2 secs', 30],
    ['* * * * * *', 60],
    ['*/15 * * * * *', 4],
    ['0,30 * * * * *', 2],
    ['0-1 0 0 1 1 *', 2],
  ];
  for (const [text, times] of refused) {
    it(`refuses "${text}" (${times} times a minute)`, () => {
      assert.throws(
        () => parseSettingSchedule(text),
        (error: unknown) => {
          assert.ok(error instanceof Error);
          assert.match(
            error.message,
            new RegExp(`invalid schedule "${text.replace(/[*]/g, '\\*')}" \\(it fires ${times} times a minute; a schedule setting fires at most once a minute`),
          );
          return true;
        },
      );
      // The scheduler itself still runs it (its own tests tick every second).
      assert.doesNotThrow(() => parseSchedule(text));
    });
  }
});

describe('schedule settings', () => {
  const base = { directory: { urls: ['ldap://localhost'] }, users: { baseDn: 'dc=example,dc=org' } };

  it('defaults: background sync off, every 1 hour, no startup sync; existing defaults kept', () => {
    const settings = validateSettings(base, 'test');
    assert.deepEqual(settings.backgroundSync, { enabled: false, schedule: 'every 1 hour', onStartup: false, fullSchedule: 'every day at 03:00' });
    assert.equal(settings.autoLogout.schedule, '*/5 * * * *');
    assert.equal(settings.mapping.avatars.schedule, '0 * * * *');
    assert.equal(settings.mapping.abac.backgroundSync.schedule, '0 * * * *');
  });

  it('accepts the text form everywhere and keeps it as written', () => {
    const settings = validateSettings(
      {
        ...base,
        backgroundSync: { enabled: 'true', schedule: 'Every 24 hours', onStartup: 'yes' },
        autoLogout: { schedule: 'every 5 minutes' },
        mapping: { avatars: { schedule: 'every day at 03:00' }, abac: { backgroundSync: { schedule: 'every 2 hours' } } },
      },
      'test',
    );
    assert.deepEqual(settings.backgroundSync, { enabled: true, schedule: 'Every 24 hours', onStartup: true, fullSchedule: 'every day at 03:00' });
    assert.equal(settings.autoLogout.schedule, 'every 5 minutes');
  });

  it('rejects a bad schedule with its path, for every schedule setting', () => {
    assert.throws(
      () =>
        validateSettings(
          {
            ...base,
            backgroundSync: { schedule: 'every blue moon' },
            autoLogout: { schedule: '61 * * * *' },
            mapping: { avatars: { schedule: 'every 90 minutes' }, abac: { backgroundSync: { schedule: '* * *' } } },
          },
          'test',
        ),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        for (const path of ['backgroundSync.schedule', 'autoLogout.schedule', 'mapping.avatars.schedule', 'mapping.abac.backgroundSync.schedule']) {
          assert.match(error.message, new RegExp(`${path.replace(/\./g, '\\.')}: invalid schedule`), path);
        }
        return true;
      },
    );
  });
});
