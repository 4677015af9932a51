import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { buildSettingsForm, HIDDEN_SETTING_PREFIXES, type SettingsField, settingsLeafPaths } from './form.ts';
import { settingsSchema } from './schema.ts';

const form = buildSettingsForm();
const fields = form.sections.flatMap((section) => section.fields);
const byPath = new Map<string, SettingsField>(fields.map((field) => [field.path, field]));

describe('settings form', () => {
  it('places every leaf setting except store.* in exactly one section', () => {
    const leaves = settingsLeafPaths(settingsSchema).filter((path) => !HIDDEN_SETTING_PREFIXES.some((prefix) => path.startsWith(prefix)));
    assert.ok(leaves.length > 60, `expected the whole schema, got ${leaves.length} leaves`);
    const counts = new Map<string, number>();
    for (const field of fields) counts.set(field.path, (counts.get(field.path) ?? 0) + 1);
    const missing = leaves.filter((path) => !counts.has(path));
    const repeated = [...counts].filter(([, count]) => count > 1).map(([path]) => path);
    const unknown = [...counts.keys()].filter((path) => !leaves.includes(path));
    assert.deepEqual({ missing, repeated, unknown }, { missing: [], repeated: [], unknown: [] });
  });

  it('gives every field a label and a help sentence, and every section a title', () => {
    for (const section of form.sections) {
      assert.ok(section.title.trim() !== '' && section.description.trim() !== '', section.id);
      assert.ok(section.fields.length > 0, section.id);
    }
    for (const field of fields) {
      assert.ok(field.label.trim().length > 2, `${field.path} has no label`);
      assert.ok(field.help.trim().length > 15, `${field.path} has no help text`);
    }
  });

  it('groups settings as the seeds do', () => {
    const titles = form.sections.map((section) => section.title);
    for (const title of [
      'Connection',
      'User Search',
      'Data Sync',
      'Background Sync',
      'Sync Roles',
      'Sync Channels',
      'Sync Teams',
      'Sync Custom Fields',
      'ABAC',
      'Auto Logout',
      'Advanced Sync',
    ]) {
      assert.ok(titles.includes(title), `missing section ${title}`);
    }
    const sectionOf = (path: string) => form.sections.find((section) => section.fields.some((field) => field.path === path))?.title;
    assert.equal(sectionOf('directory.bindDn'), 'Connection');
    assert.equal(sectionOf('directory.attributesToQuery'), 'Advanced Sync');
    assert.equal(sectionOf('sync.activeState'), 'Advanced Sync');
    assert.equal(sectionOf('mapping.roles.map'), 'Sync Roles');
    assert.equal(sectionOf('autoLogout.schedule'), 'Auto Logout');
  });

  it('derives kinds, options, defaults and bounds from the schema', () => {
    const field = (path: string) => {
      const found = byPath.get(path);
      assert.ok(found, path);
      return found;
    };
    assert.equal(field('directory.bindPassword').kind, 'secret');
    assert.equal(field('directory.urls').kind, 'list');
    assert.equal(field('directory.startTls').kind, 'boolean');
    assert.equal(field('directory.startTls').defaultValue, false);
    assert.deepEqual(
      {
        kind: field('directory.pageSize').kind,
        min: field('directory.pageSize').min,
        max: field('directory.pageSize').max,
        defaultValue: field('directory.pageSize').defaultValue,
      },
      { kind: 'integer', min: 1, max: 100_000, defaultValue: 500 },
    );
    assert.equal(field('sync.guard.maxDisable.percent').kind, 'number');
    assert.deepEqual(field('sync.activeState').options, ['none', 'disable', 'enable', 'both']);
    assert.equal(field('sync.activeState').kind, 'enum');
    assert.deepEqual(
      { kind: field('groups.memberAttribute').kind, options: field('groups.memberAttribute').options },
      { kind: 'list', options: ['member', 'uniqueMember', 'memberUid'] },
    );
    assert.equal(field('mapping.roles.map').kind, 'map');
    assert.equal(field('mapping.customFields.map').kind, 'map');
    assert.equal(field('users.filter').kind, 'string');
    assert.equal(field('directory.bindDn').isOptional, true);
    assert.equal(field('users.baseDn').isOptional, false);
    assert.equal(field('users.baseDn').defaultValue, undefined);
    assert.equal(field('backgroundSync.schedule').defaultValue, 'every 1 hour');
    // Bounds the console shows ("Range: 100–3600000"), from the same schema the server checks.
    assert.deepEqual([field('directory.operationTimeoutMs').min, field('directory.operationTimeoutMs').max], [100, 3_600_000]);
    assert.deepEqual([field('directory.connectTimeoutMs').min, field('directory.connectTimeoutMs').max], [100, 300_000]);
    assert.deepEqual([field('sync.guard.maxDisable.count').min, field('sync.guard.maxDisable.count').max], [0, 10_000_000]);
    assert.equal(field('users.baseDn').maxLength, 2_048);
    assert.equal(field('users.filter').maxLength, 8_192);
    assert.equal(field('autoLogout.schedule').maxLength, 128);
    for (const number of fields.filter((candidate) => candidate.kind === 'integer' || candidate.kind === 'number')) {
      assert.ok(number.min !== undefined && number.max !== undefined, `${number.path} shows its range`);
    }
    for (const text of fields.filter((candidate) => candidate.kind === 'string')) assert.ok(text.maxLength !== undefined, `${text.path} has a maximum length`);
  });

  it('names every option of a labelled enum, and only its options', () => {
    const labelled = fields.filter((field) => field.optionLabels !== undefined);
    assert.ok(labelled.some((field) => field.path === 'sync.activeState'));
    assert.equal(byPath.get('sync.activeState')?.optionLabels?.['both'], 'Enable and Disable Users');
    for (const field of labelled) assert.deepEqual(Object.keys(field.optionLabels ?? {}).sort(), [...(field.options ?? [])].sort(), field.path);
  });

  it('refuses a layout path the schema does not have', () => {
    const smaller = z.object({ directory: z.object({ urls: z.array(z.string()) }) });
    assert.throws(() => buildSettingsForm(smaller), /is not a settings path/);
  });

  it('is plain JSON (what the HTTP route sends)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(form)), form);
  });
});
