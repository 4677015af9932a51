/**
 * Every value the settings refuse because it cannot work: numbers beyond their bounds (and
 * timeouts beyond Node's timers), placeholders where none are filled in, the root as a base DN,
 * schedules that fire more than once a minute, unbounded text, maps and lists. Each refusal names
 * the dotted path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { isDirbridgeError } from '../errors.ts';
import { settingSchemaAt, settingsLeafPaths } from './form.ts';
import { validateSettings } from './load.ts';
import { MAX_TIMER_MS, SETTING_LIMITS, settingsSchema } from './schema.ts';

const minimal = {
  directory: { urls: ['ldap://127.0.0.1:389'] },
  users: { baseDn: 'ou=people,dc=example,dc=org' },
  groups: { baseDn: 'ou=groups,dc=example,dc=org' },
};

/** Sets `value` at the dotted `path` of a copy of `document`. */
function withValue(document: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(document);
  const keys = path.split('.');
  let current: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    current[key] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...next } : {};
    current = current[key] as Record<string, unknown>;
  }
  current[keys[keys.length - 1] ?? ''] = value;
  return copy;
}

function problemsOf(document: unknown): string[] {
  try {
    validateSettings(document, 'test');
  } catch (error) {
    if (isDirbridgeError(error, 'settings.invalid')) return (error.details['problems'] as string[] | undefined) ?? [];
    throw error;
  }
  return [];
}

/** Asserts that setting `path` to `value` is refused with a problem on `problemPath` matching `message`. */
function assertRefused(path: string, value: unknown, message: RegExp, problemPath = path, base: Record<string, unknown> = minimal): void {
  const problems = problemsOf(withValue(base, path, value));
  const found = problems.find((problem) => problem.startsWith(`${problemPath}: `) || problem.startsWith(`${problemPath}.`));
  assert.ok(found !== undefined, `${path} = ${JSON.stringify(value).slice(0, 80)}: expected a problem on ${problemPath}, got ${JSON.stringify(problems)}`);
  assert.match(found, message);
}

function assertAccepted(path: string, value: unknown, base: Record<string, unknown> = minimal): void {
  assert.deepEqual(problemsOf(withValue(base, path, value)), [], `${path} = ${JSON.stringify(value).slice(0, 80)}`);
}

const long = (length: number) => 'x'.repeat(length);
const longDn = (length: number) => `cn=${long(length - 'cn=,dc=example,dc=org'.length)},dc=example,dc=org`;

describe('settings bounds', () => {
  // [path, lowest accepted, highest accepted, message for the one above]
  const numbers: Array<[string, number, number, RegExp]> = [
    ['directory.connectTimeoutMs', 100, 300_000, /at most 300000 ms \(5 minutes\)/],
    ['directory.operationTimeoutMs', 100, 3_600_000, /at most 3600000 ms \(1 hour\)/],
    ['directory.pageSize', 1, 100_000, /at most 100000/],
    ['sync.guard.maxDisable.count', 0, 10_000_000, /at most 10000000/],
    ['sync.guard.maxDisable.percent', 0, 100, /100/],
    ['sync.guard.maxRevoke.count', 0, 10_000_000, /at most 10000000/],
    ['sync.guard.maxRevoke.percent', 0, 100, /100/],
    ['sync.batchSize', 1, 100_000, /at most 100000/],
    ['sync.missingGraceRuns', 0, 1_000, /at most 1000 runs/],
    ['sync.incremental.timestampOverlapSeconds', 0, 86_400, /at most 86400 seconds/],
    ['sync.live.pollSeconds', 1, 3_600, /at most 3600 seconds/],
    ['login.sessionTtlMinutes', 1, 525_600, /at most 525600 minutes/],
    ['login.bindPoolSize', 1, 256, /at most 256/],
    ['mapping.avatars.maxBytes', 1, 16 * 1024 * 1024, /at most 16777216 bytes/],
  ];
  for (const [path, min, max, tooBig] of numbers) {
    it(`${path}: ${min} to ${max}`, () => {
      assertAccepted(path, min);
      assertAccepted(path, max);
      assertRefused(path, max + 1, tooBig);
      assertRefused(path, min - 1, /at least|too small|>=/i);
      // Environment variables are text: the bounds hold for them too.
      assertRefused(path, String(max + 1), tooBig);
    });
  }

  it("refuses the operation timeout that overflowed Node's timer (3000000000 ms)", () => {
    assertRefused('directory.operationTimeoutMs', 3_000_000_000, /at most 3600000 ms \(1 hour\)/);
    assertRefused('directory.connectTimeoutMs', 2 ** 31, /at most 300000 ms/);
    assertRefused('directory.operationTimeoutMs', 0, /at least 100 ms .*wait forever/);
  });

  it("gives every numeric setting both bounds, and every duration one that Node's timers hold", () => {
    const numeric = settingsLeafPaths().filter((path) => settingSchemaAt(path.split('.')) instanceof z.ZodNumber);
    assert.ok(numeric.length >= numbers.length, numeric.join(', '));
    for (const path of numeric) {
      const leaf = settingSchemaAt(path.split('.'));
      assert.ok(leaf instanceof z.ZodNumber, path);
      assert.ok(leaf.minValue !== null && Number.isFinite(leaf.minValue), `${path} has no lower bound`);
      assert.ok(leaf.maxValue !== null && Number.isFinite(leaf.maxValue), `${path} has no upper bound`);
      if (/Ms$/.test(path)) assert.ok(leaf.maxValue <= MAX_TIMER_MS, `${path} allows more than Node's timers hold`);
    }
    // Every number in this table and every number of the schema: none is left out of the tests.
    const tested = new Set(numbers.map(([path]) => path));
    assert.deepEqual(
      numeric.filter((path) => !tested.has(path) && !path.startsWith('login.throttle.')),
      [],
    );
  });

  it('gives every text setting a maximum length and every list a maximum size', () => {
    const unbounded: string[] = [];
    for (const path of settingsLeafPaths()) {
      const leaf = settingSchemaAt(path.split('.'));
      if (leaf instanceof z.ZodString && leaf.maxLength === null) unbounded.push(path);
      if (leaf instanceof z.ZodArray) {
        const tooMany = problemsOf(
          withValue(
            minimal,
            path,
            Array.from({ length: 200 }, (_, index) => `a${index}`),
          ),
        );
        if (!tooMany.some((problem) => problem.startsWith(`${path}: `) || problem.startsWith(`${path}.`))) unbounded.push(path);
      }
    }
    assert.deepEqual(unbounded, []);
  });
});

describe('settings that cannot work', () => {
  it('refuses #{…} placeholders in the user and group filters, and says where they belong', () => {
    for (const path of ['users.filter', 'groups.filter']) {
      assertRefused(
        path,
        '(&(objectClass=person)(uid=#{username}))',
        /#\{username\} is not filled in here: only the User Group Filter .*userGroupFilter.* and the team query/,
      );
      assertRefused(path, '(memberOf=#{groupName})', /#\{groupName\}/);
      assertAccepted(path, '(&(objectClass=person)(description=\\23{x}))');
    }
    // Where placeholders are filled in, they stay allowed.
    assertAccepted('mapping.groupSearch.userGroupFilter', '(&(cn=#{groupName})(memberUid=#{username}))');
    assertAccepted('mapping.teams.userGroupsQuery', '(&(objectClass=groupOfNames)(member=#{userdn}))');
  });

  it('refuses the root as a base DN, for users, groups, mapped groups and teams', () => {
    for (const path of ['users.baseDn', 'groups.baseDn', 'mapping.groupSearch.baseDn', 'mapping.teams.baseDn']) {
      assertRefused(path, '', /must not be empty: a search from the root/);
      assertRefused(path, '   ', /must not be empty/);
      assertAccepted(path, 'dc=example,dc=org');
    }
    // The optional ones may still be left out.
    assert.deepEqual(problemsOf(minimal), []);
  });

  const schedules = ['backgroundSync.schedule', 'autoLogout.schedule', 'mapping.avatars.schedule', 'mapping.abac.backgroundSync.schedule'];
  const tooOften: Array<[string, RegExp]> = [
    ['every 30 seconds', /fires 2 times a minute/],
    ['every second', /fires 60 times a minute/],
    ['every 1 sec', /fires 60 times a minute/],
    ['*/30 * * * * *', /fires 2 times a minute/],
    ['* * * * * *', /fires 60 times a minute/],
    ['0,30 0 0 1 1 *', /fires 2 times a minute/],
    ['*/59 * * * * *', /fires 2 times a minute/],
  ];
  const oftenEnough = ['* * * * *', 'every 1 minute', 'every 60 seconds', '0 * * * * *', '15 */5 * * * *', '@hourly', 'every day at 02:00'];
  for (const path of schedules) {
    it(`${path}: at most once a minute`, () => {
      for (const [schedule, message] of tooOften) assertRefused(path, schedule, message);
      for (const schedule of tooOften) assertRefused(path, schedule[0], /at most once a minute, e\.g\. "every 1 minute"/);
      for (const schedule of oftenEnough) assertAccepted(path, schedule);
    });
  }

  // [path, a value that is too long, what the message names]
  const texts: Array<[string, unknown, string]> = [
    ['directory.urls', [`ldap://${long(SETTING_LIMITS.url)}`], 'directory.urls.0'],
    ['directory.tls.caFile', `/${long(SETTING_LIMITS.path)}`, 'directory.tls.caFile'],
    ['directory.tls.serverName', long(254), 'directory.tls.serverName'],
    ['directory.bindDn', longDn(SETTING_LIMITS.dn + 1), 'directory.bindDn'],
    ['directory.bindPassword', long(SETTING_LIMITS.secret + 1), 'directory.bindPassword'],
    ['directory.attributesToQuery', [long(SETTING_LIMITS.attribute + 1)], 'directory.attributesToQuery.0'],
    ['users.baseDn', longDn(SETTING_LIMITS.dn + 1), 'users.baseDn'],
    ['users.filter', `(cn=${long(SETTING_LIMITS.filter)})`, 'users.filter'],
    ['users.uniqueIdAttribute', long(SETTING_LIMITS.attribute + 1), 'users.uniqueIdAttribute'],
    ['users.usernameAttribute', [long(SETTING_LIMITS.attribute + 1)], 'users.usernameAttribute.0'],
    ['users.emailAttribute', long(SETTING_LIMITS.attribute + 1), 'users.emailAttribute'],
    ['users.firstNameAttribute', long(SETTING_LIMITS.attribute + 1), 'users.firstNameAttribute'],
    ['users.lastNameAttribute', long(SETTING_LIMITS.attribute + 1), 'users.lastNameAttribute'],
    ['users.displayNameAttribute', long(SETTING_LIMITS.attribute + 1), 'users.displayNameAttribute'],
    ['groups.baseDn', longDn(SETTING_LIMITS.dn + 1), 'groups.baseDn'],
    ['groups.filter', `(cn=${long(SETTING_LIMITS.filter)})`, 'groups.filter'],
    ['groups.uniqueIdAttribute', long(SETTING_LIMITS.attribute + 1), 'groups.uniqueIdAttribute'],
    ['groups.nameAttribute', long(SETTING_LIMITS.attribute + 1), 'groups.nameAttribute'],
    ['mapping.groupSearch.baseDn', longDn(SETTING_LIMITS.dn + 1), 'mapping.groupSearch.baseDn'],
    ['mapping.groupSearch.userGroupFilter', `(cn=${long(SETTING_LIMITS.filter)})`, 'mapping.groupSearch.userGroupFilter'],
    ['mapping.groupSearch.nameAttribute', [long(SETTING_LIMITS.attribute + 1)], 'mapping.groupSearch.nameAttribute.0'],
    ['mapping.roles.map', { [long(SETTING_LIMITS.name + 1)]: 'admin' }, 'mapping.roles.map'],
    ['mapping.roles.map', { managers: long(SETTING_LIMITS.name + 1) }, 'mapping.roles.map.managers'],
    ['mapping.roles.map', { managers: ['leader', long(SETTING_LIMITS.name + 1)] }, 'mapping.roles.map.managers.1'],
    ['mapping.channels.channelAdmin', long(SETTING_LIMITS.name + 1), 'mapping.channels.channelAdmin'],
    ['mapping.channels.map', { staff: long(SETTING_LIMITS.name + 1) }, 'mapping.channels.map.staff'],
    ['mapping.teams.map', { team: long(SETTING_LIMITS.name + 1) }, 'mapping.teams.map.team'],
    ['mapping.teams.baseDn', longDn(SETTING_LIMITS.dn + 1), 'mapping.teams.baseDn'],
    ['mapping.teams.nameAttribute', [long(SETTING_LIMITS.attribute + 1)], 'mapping.teams.nameAttribute.0'],
    ['mapping.teams.userGroupsQuery', `(cn=${long(SETTING_LIMITS.filter)})`, 'mapping.teams.userGroupsQuery'],
    ['mapping.customFields.map', { [`a${long(SETTING_LIMITS.attribute)}`]: 'department' }, 'mapping.customFields.map'],
    ['mapping.customFields.map', { departmentNumber: long(SETTING_LIMITS.name + 1) }, 'mapping.customFields.map.departmentNumber'],
    ['mapping.abac.map', { department: long(SETTING_LIMITS.name + 1) }, 'mapping.abac.map.department'],
    ['mapping.abac.backgroundSync.schedule', `0 * * * * ${long(SETTING_LIMITS.schedule)}`, 'mapping.abac.backgroundSync.schedule'],
    ['mapping.avatars.attributes', [long(SETTING_LIMITS.attribute + 1)], 'mapping.avatars.attributes.0'],
    ['mapping.adminGroup', long(SETTING_LIMITS.name + 1), 'mapping.adminGroup'],
    ['autoLogout.schedule', long(SETTING_LIMITS.schedule + 1), 'autoLogout.schedule'],
    ['backgroundSync.schedule', long(SETTING_LIMITS.schedule + 1), 'backgroundSync.schedule'],
    ['store.url', `postgres://${long(SETTING_LIMITS.url)}`, 'store.url'],
    ['store.dataDir', long(SETTING_LIMITS.path + 1), 'store.dataDir'],
  ];
  for (const [path, value, problemPath] of texts) {
    it(`${problemPath}: refuses text beyond its maximum`, () =>
      assertRefused(path, value, /at most \d+ characters|keys must be at most \d+ characters/, problemPath));
  }

  // [path, too many entries, what the message says]
  const sizes: Array<[string, unknown, RegExp]> = [
    ['directory.urls', Array.from({ length: SETTING_LIMITS.urls + 1 }, (_, index) => `ldap://h${index}`), /at most 16 URLs/],
    ['directory.attributesToQuery', Array.from({ length: SETTING_LIMITS.attributes + 1 }, (_, index) => `a${index}`), /at most 64 attributes/],
    ['users.usernameAttribute', Array.from({ length: SETTING_LIMITS.attributes + 1 }, (_, index) => `a${index}`), /at most 64 attributes/],
    [
      'mapping.roles.map',
      Object.fromEntries(Array.from({ length: SETTING_LIMITS.mapEntries + 1 }, (_, index) => [`g${index}`, 'role'])),
      /at most 5000 entries/,
    ],
    ['mapping.roles.map', { staff: Array.from({ length: SETTING_LIMITS.mapValues + 1 }, (_, index) => `r${index}`) }, /at most 100 names per entry/],
    [
      'mapping.channels.map',
      Object.fromEntries(Array.from({ length: SETTING_LIMITS.mapEntries + 1 }, (_, index) => [`g${index}`, 'c'])),
      /at most 5000 entries/,
    ],
    ['mapping.teams.map', Object.fromEntries(Array.from({ length: SETTING_LIMITS.mapEntries + 1 }, (_, index) => [`g${index}`, 't'])), /at most 5000 entries/],
    [
      'mapping.customFields.map',
      Object.fromEntries(Array.from({ length: SETTING_LIMITS.mapEntries + 1 }, (_, index) => [`a${index}`, 'f'])),
      /at most 5000 entries/,
    ],
    ['mapping.abac.map', Object.fromEntries(Array.from({ length: SETTING_LIMITS.mapEntries + 1 }, (_, index) => [`a${index}`, 'f'])), /at most 5000 entries/],
  ];
  for (const [path, value, message] of sizes) {
    it(`${path}: refuses ${message.source}`, () => {
      const problems = problemsOf(withValue(minimal, path, value));
      assert.ok(
        problems.some((problem) => problem.startsWith(path) && message.test(problem)),
        JSON.stringify(problems).slice(0, 400),
      );
    });
  }

  it("still takes every default, and the README's full example", () => {
    const settings = settingsSchema.parse({ ...minimal, store: {} });
    assert.equal(settings.directory.operationTimeoutMs, 30_000);
    assert.equal(settings.autoLogout.schedule, '*/5 * * * *');
  });
});
