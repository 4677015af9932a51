/**
 * Reads what `--config` and the `DIRBRIDGE_*` environment give: the store section at once, and
 * the validated seed for an empty store on demand. Every problem is reported with its path.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DirbridgeError } from '../errors.ts';
import { type Settings, type StoreSettings, settingsSchema, storeSettingsSchema } from './schema.ts';

/** The prefix of environment variables that override single settings. */
export const ENV_PREFIX = 'DIRBRIDGE_';

/** What `--config` and the environment give: where the store is, and the seed for an empty store. */
export interface SettingsInput {
  /** The store section, always taken from the file and environment. */
  store: StoreSettings;
  /** The validated seed, or undefined when neither a file nor a setting variable was given; throws `settings.invalid`. */
  seed: () => Settings | undefined;
  /** Where the seed came from, for messages. */
  origin: string;
}

/**
 * Reads the file (if any) and applies `DIRBRIDGE_*` overrides. The store section is validated
 * at once; the rest only when the seed is asked for (the store may already hold settings).
 */
export async function readSettingsInput(options: { file?: string; env?: NodeJS.ProcessEnv }): Promise<SettingsInput> {
  const document = options.file === undefined ? {} : await readSettingsDocument(options.file);
  const withEnv = applyEnvOverrides(document, options.env ?? process.env);
  const origin = options.file ?? 'environment';
  const storePart = isRecord(withEnv) ? withEnv['store'] : undefined;
  const storeResult = storeSettingsSchema.default({ dataDir: './data' }).safeParse(storePart);
  if (!storeResult.success)
    throw invalidSettings(
      storeResult.error.issues.map((issue) => ({ ...issue, path: ['store', ...issue.path] })),
      origin,
    );
  const hasSeed = options.file !== undefined || (isRecord(withEnv) && Object.keys(withEnv).some((key) => key !== 'store'));
  let validated: Settings | undefined;
  return { store: storeResult.data, seed: () => (hasSeed ? (validated ??= validateSettings(withEnv, origin)) : undefined), origin };
}

/** Validates an already-parsed document; `origin` names where it came from in the error. */
export function validateSettings(document: unknown, origin: string): Settings {
  const result = settingsSchema.safeParse(document);
  if (result.success) return result.data;
  throw invalidSettings(result.error.issues, origin);
}

function invalidSettings(issues: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>, origin: string): DirbridgeError {
  const problems = issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  return new DirbridgeError('settings.invalid', `invalid settings in ${origin}:\n  ${problems.join('\n  ')}`, {
    details: { problems },
  });
}

/** Reads a YAML or JSON settings file (as `--config` and `settings import` take it). */
export async function readSettingsDocument(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DirbridgeError('settings.unreadable', `cannot read settings file ${file}`, { cause: error });
  }
  try {
    const parsed: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    return parsed ?? {};
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DirbridgeError('settings.invalid', `settings file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${reason}`, {
      cause: error,
    });
  }
}

/**
 * Sets each `DIRBRIDGE_SECTION_KEY` variable at the matching settings path, e.g.
 * `DIRBRIDGE_DIRECTORY_BIND_PASSWORD` → `directory.bindPassword`. Values stay strings;
 * the schema converts numbers, booleans and lists.
 */
export function applyEnvOverrides(document: unknown, env: NodeJS.ProcessEnv): unknown {
  const paths = settingPaths(settingsSchema);
  const byEnvName = new Map(paths.map((path) => [envNameOf(path), path]));
  let result: unknown = document;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = byEnvName.get(name);
    if (path !== undefined) result = setPath(result, path, value);
  }
  return result;
}

/** The environment variable name for a settings path. */
export function envNameOf(path: readonly string[]): string {
  return ENV_PREFIX + path.map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Every leaf path of an object schema, found by walking its shape. */
function settingPaths(schema: z.ZodType, prefix: readonly string[] = []): string[][] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, child]) => settingPaths(child, [...prefix, key]));
  }
  return [prefix.slice()];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodOptional) current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodPipe) current = current.in as z.ZodType;
    else return current;
  }
}

function setPath(document: unknown, path: readonly string[], value: string): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  const base: Record<string, unknown> = isRecord(document) ? { ...document } : {};
  base[head] = setPath(base[head], rest, value);
  return base;
}

/** A plain object (not null, not an array): a settings document or one of its sections. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(document)' : path.map(String).join('.');
}
