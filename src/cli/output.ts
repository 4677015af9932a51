/** How the CLI prints results and maps failures to exit codes (0 ok, 1 operation failed, 2 usage or settings). */
import { isDirbridgeError } from '../errors.ts';

/** Exit codes every command shares. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Where a command writes; injectable so tests can capture output. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTerminal: boolean;
}

/** The process's own streams. */
export function processOutput(): Output {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTerminal: process.stderr.isTTY === true,
  };
}

/** Prints a value as indented JSON followed by a newline. */
export function printJson(out: Output, value: unknown): void {
  out.stdout(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { base64: Buffer.from(value).toString('base64'), bytes: value.length };
  if (typeof value === 'object' && value !== null && 'type' in value && value.type === 'Buffer' && 'data' in value && Array.isArray(value.data)) {
    return { base64: Buffer.from(value.data).toString('base64'), bytes: value.data.length };
  }
  return value;
}

/** Renders rows as an aligned text table. */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | boolean | null>>): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null ? '' : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return `${cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** Prints an error with its code and returns the exit code it deserves. */
export function reportError(out: Output, error: unknown, asJson: boolean): number {
  const exitCode = isDirbridgeError(error, 'settings.invalid', 'settings.unreadable', 'usage.invalid') ? EXIT.usage : EXIT.failed;
  const code = isDirbridgeError(error) ? error.code : 'internal';
  const message = error instanceof Error ? error.message : String(error);
  if (asJson) printJson(out, { status: 'error', error: { code, message } });
  else out.stderr(`error [${code}]: ${message}\n`);
  return exitCode;
}
