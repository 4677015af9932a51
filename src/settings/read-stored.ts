/**
 * Reading a stored settings version with today's rules. A version saved by an earlier release may
 * hold a value these rules refuse (a timeout beyond Node's timers, a schedule that fires every few
 * seconds, a base DN of ""): loading it must neither crash every command nor silently run on it.
 *
 * - A number or a schedule the rules refuse is set aside for its default, in memory only, and
 *   reported (`problems`): the default is always a safe stand-in (a timeout, a size, a guard
 *   limit that is stricter, a job that runs less often), and the process keeps working. The next
 *   save writes a valid document; until then every load reports the same problems.
 * - Anything else (a DN, a filter, a map) has no stand-in that could not read or grant something
 *   else, so loading fails with `settings.invalid` naming every path and the way out:
 *   `dirbridge settings import FILE`, which replaces the stored version with a valid one
 *   (`replacement`), keeping the stored secrets the file leaves out.
 */
import { z } from 'zod';
import { DirbridgeError } from '../errors.ts';
import type { JsonValue } from '../model/index.ts';
import { settingSchemaAt } from './form.ts';
import { isRecord } from './load.ts';
import { type Settings, type StoreSettings, scheduleSetting, settingsSchema } from './schema.ts';
import type { SecretBox } from './secret-box.ts';
import { applySettingsEditTo, openStoredSecrets } from './stored-settings.ts';

/** A stored version as the current rules read it. */
export interface StoredSettingsRead {
  /** The settings in force. */
  settings: Settings;
  /**
   * What the current rules refuse in the stored version, one `path: message` each, with what is
   * used instead; empty when the version passes.
   */
  problems: string[];
  /** The stored document as saved (secrets opened, no `store`): what the next save is compared with. */
  baseline: Record<string, unknown>;
}

/**
 * Opens and validates a stored version (see the module comment). `replacement`, when given, is
 * a whole settings document (without `store`) put in force instead of a version that cannot be
 * loaded, validated as a save would validate it against the stored secrets; its problems are the
 * stored version's, so the caller saves it.
 */
export function readStoredSettings(
  document: JsonValue,
  store: StoreSettings,
  box: SecretBox,
  origin: string,
  options: { replacement?: () => unknown } = {},
): StoredSettingsRead {
  const baseline = openStoredSecrets(document, box);
  const first = settingsSchema.safeParse({ ...baseline, store });
  if (first.success) return { settings: first.data, problems: [], baseline };

  const issues = first.error.issues;
  const setAside = issues.filter((issue) => isDefaultedOnLoad(issue.path));
  if (setAside.length === issues.length) {
    const repaired = structuredClone(baseline);
    for (const issue of setAside) deletePath(repaired, issue.path);
    const second = settingsSchema.safeParse({ ...repaired, store });
    if (second.success) {
      const problems = setAside.map(
        (issue) =>
          `${formatPath(issue.path)}: ${issue.message}; the stored value ${JSON.stringify(valueAt(baseline, issue.path)) ?? 'undefined'} is set aside ` +
          `and the default ${JSON.stringify(valueAt(second.data, issue.path)) ?? 'undefined'} is used until the settings are saved again`,
      );
      return { settings: second.data, problems, baseline };
    }
  }

  const problems = issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  const replacement = options.replacement?.();
  if (replacement !== undefined) {
    const settings = applySettingsEditTo(replacement, baseline, store, 'the settings file');
    return { settings, problems, baseline };
  }
  throw new DirbridgeError(
    'settings.invalid',
    `${origin} no longer pass the settings rules:\n  ${problems.join('\n  ')}\n` +
      'Replace them with `dirbridge settings import FILE` (a whole settings file, e.g. `settings export` of a working installation; secrets it leaves out are kept).',
    { details: { problems } },
  );
}

/** Numbers and schedules: the settings whose default can stand in for a refused stored value. */
function isDefaultedOnLoad(path: readonly PropertyKey[]): boolean {
  if (!path.every((part): part is string => typeof part === 'string')) return false;
  const leaf = settingSchemaAt(path);
  return leaf instanceof z.ZodNumber || leaf === scheduleSetting;
}

function valueAt(document: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = document;
  for (const part of path) {
    if (!isRecord(current)) return undefined;
    current = current[String(part)];
  }
  return current;
}

function deletePath(document: Record<string, unknown>, path: readonly PropertyKey[]): void {
  const parent = valueAt(document, path.slice(0, -1));
  const last = path[path.length - 1];
  if (isRecord(parent) && last !== undefined) delete parent[String(last)];
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(document)' : path.map(String).join('.');
}
