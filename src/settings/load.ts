/**
 * Loads the settings document from a YAML or JSON file, applies `DIRBRIDGE_*` environment
 * overrides, and validates the result. Every problem is reported with its path.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DirbridgeError } from '../errors.ts';
import { settingsSchema, type Settings } from './schema.ts';

/** The prefix of environment variables that override single settings. */
export const ENV_PREFIX = 'DIRBRIDGE_';

/** Reads, overrides and validates the settings; throws `settings.invalid` or `settings.unreadable`. */
export async function loadSettings(options: { file?: string; env?: NodeJS.ProcessEnv }): Promise<Settings> {
  const document = options.file === undefined ? {} : await readSettingsFile(options.file);
  const withEnv = applyEnvOverrides(document, options.env ?? process.env);
  return validateSettings(withEnv, options.file ?? 'environment');
}

/** Validates an already-parsed document; `origin` names where it came from in the error. */
export function validateSettings(document: unknown, origin: string): Settings {
  const result = settingsSchema.safeParse(document);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  throw new DirbridgeError('settings.invalid', `invalid settings in ${origin}:\n  ${problems.join('\n  ')}`, {
    details: { problems },
  });
}

async function readSettingsFile(file: string): Promise<unknown> {
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(document)' : path.map(String).join('.');
}
