/**
 * Turning settings values into what the form edits and back, and the save errors into
 * per-field messages. Kept apart from the page so it stays plain data manipulation.
 */
import type { FormField } from './types.ts';

/** What an input holds: text, a switch, or the checked options of a list. */
export type EditValue = string | boolean | string[];

/** A secret's edit: keep the stored value, set a new one, or clear it. */
export interface SecretEdit {
  mode: 'keep' | 'set' | 'clear';
  value: string;
}

/** The value at a dotted path, or undefined. */
export function getPath(document: unknown, path: string): unknown {
  let current: unknown = document;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Sets (or, with `undefined`, removes) the value at a dotted path, creating objects on the way. */
export function setPath(document: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let current: Record<string, unknown> = document;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      if (value === undefined) return;
      current[key] = {};
    }
    current = current[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] ?? '';
  if (value === undefined) delete current[last];
  else current[last] = value;
}

/** The input value for a settings value. */
export function toEdit(field: FormField, value: unknown): EditValue {
  const effective = value === undefined ? undefined : value;
  switch (field.kind) {
    case 'boolean':
      return effective === undefined ? field.defaultValue === true : effective === true;
    case 'list':
      if (field.options !== undefined) return Array.isArray(effective) ? effective.map(String) : [];
      return Array.isArray(effective) ? effective.map(String).join('\n') : effective === undefined ? '' : String(effective);
    case 'map':
    case 'json':
      return effective === undefined ? '' : JSON.stringify(effective, null, 2);
    case 'secret':
      return '';
    default:
      return effective === undefined || effective === null ? '' : String(effective);
  }
}

/** The settings value for an input, `undefined` to leave the setting out, or an error message the form shows at once. */
export function fromEdit(field: FormField, edit: EditValue): { value: unknown } | { error: string } {
  if (typeof edit === 'boolean') return { value: edit };
  if (Array.isArray(edit)) return { value: edit };
  const text = edit;
  const isBlank = text.trim() === '';
  if (isBlank && (field.isOptional || field.defaultValue !== undefined)) return { value: undefined };
  switch (field.kind) {
    case 'integer':
    case 'number':
      // A number when it reads as one; otherwise the text goes to the server, which says what is wrong.
      return { value: /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text };
    case 'list':
      return {
        value: text
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line !== ''),
      };
    case 'map':
    case 'json':
      try {
        return { value: JSON.parse(text) as unknown };
      } catch (error) {
        return { error: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
      }
    default:
      return { value: text };
  }
}

/** Whether two edit values are the same. */
export function sameEdit(a: EditValue | undefined, b: EditValue | undefined): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => item === b[index]);
  return a === b;
}

/**
 * Splits the server's problems ("directory.pageSize: Too big: …") into messages per form field
 * (the field whose path is the problem's path or its longest prefix) and the rest.
 */
export function problemsByField(problems: readonly string[], fieldPaths: readonly string[]): { byField: Record<string, string[]>; other: string[] } {
  const byField: Record<string, string[]> = {};
  const other: string[] = [];
  const sorted = [...fieldPaths].sort((a, b) => b.length - a.length);
  for (const problem of problems) {
    const separator = problem.indexOf(': ');
    const rawPath = separator < 0 ? '' : problem.slice(0, separator);
    const message = separator < 0 ? problem : problem.slice(separator + 2);
    const candidates = [rawPath, rawPath.replace(/^(body\.)?settings\./, '')];
    const field = candidates
      .map((path) => sorted.find((fieldPath) => path === fieldPath || path.startsWith(`${fieldPath}.`)))
      .find((found) => found !== undefined);
    if (field === undefined) {
      other.push(problem);
      continue;
    }
    const candidate = candidates.find((path) => path === field || path.startsWith(`${field}.`)) ?? field;
    const detail = candidate === field ? message : `${candidate.slice(field.length + 1)}: ${message}`;
    (byField[field] ??= []).push(detail);
  }
  return { byField, other };
}
