/**
 * The last log lines of this instance, for the console's log view. The buffer sits behind
 * pino as a tee on its destination, so it holds exactly the lines stdout gets — already
 * redacted, at the logger's level. It keeps raw lines in a ring (writing stays cheap) and
 * parses them only when read.
 */
import type { DestinationStream } from 'pino';

/** Pino's level numbers and their names. */
export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A level name. */
export type LogLevelName = keyof typeof LOG_LEVELS;

/** One log line as the API shows it: time (ISO), level name, message, and the line's other fields. */
export interface LogEntry {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The ring of recent lines. */
export interface LogBuffer {
  readonly capacity: number;
  /** Takes one or more newline-terminated JSON lines, as pino writes them. */
  write(chunk: string): void;
  /** Newest first, at most `limit`, only at `minLevel` or above. */
  entries(query: { limit: number; minLevel?: LogLevelName }): LogEntry[];
}

/** Lines longer than this are kept as a stub (time, level, msg); a log view needs no megabyte bodies. */
const MAX_LINE_CHARS = 16_384;
/** Fields every line has that say nothing about the event. */
const DROPPED_FIELDS = new Set(['pid', 'hostname', 'time', 'level', 'msg']);

/** Creates an empty buffer holding the last `capacity` lines (default 2000). */
export function createLogBuffer(capacity = 2_000): LogBuffer {
  const lines: string[] = new Array<string>(capacity);
  let next = 0;
  let size = 0;

  function push(line: string): void {
    lines[next] = line;
    next = (next + 1) % capacity;
    size = Math.min(size + 1, capacity);
  }

  return {
    capacity,
    write(chunk) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') push(line);
    },
    entries({ limit, minLevel }) {
      const floor = minLevel === undefined ? 0 : LOG_LEVELS[minLevel];
      const result: LogEntry[] = [];
      for (let i = 1; i <= size && result.length < limit; i += 1) {
        const line = lines[(next - i + capacity) % capacity];
        if (line === undefined) continue;
        const entry = parseLine(line);
        if (entry !== undefined && entry.levelNumber >= floor) result.push(entry.entry);
      }
      return result;
    },
  };
}

/** A pino destination that writes every line to `target` and to the buffer. */
export function teeDestination(target: DestinationStream, buffer: LogBuffer): DestinationStream {
  return {
    write(chunk: string) {
      buffer.write(chunk);
      return target.write(chunk);
    },
  };
}

function levelName(level: number): string {
  const found = Object.entries(LOG_LEVELS).find(([, value]) => value === level);
  return found === undefined ? String(level) : found[0];
}

function parseLine(line: string): { entry: LogEntry; levelNumber: number } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line.length > MAX_LINE_CHARS ? stubOf(line) : line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const fields: Record<string, unknown> = { ...value };
  const levelNumber = typeof fields['level'] === 'number' ? fields['level'] : 0;
  const time = typeof fields['time'] === 'number' ? new Date(fields['time']).toISOString() : typeof fields['time'] === 'string' ? fields['time'] : '';
  const entry: LogEntry = { time, level: levelName(levelNumber), msg: typeof fields['msg'] === 'string' ? fields['msg'] : '' };
  for (const [key, field] of Object.entries(fields)) if (!DROPPED_FIELDS.has(key)) entry[key] = field;
  return { entry, levelNumber };
}

/** The time, level and message of an over-long line, found without parsing all of it. */
function stubOf(line: string): string {
  const pick = (pattern: RegExp) => pattern.exec(line)?.[1];
  const level = Number(pick(/"level":(\d+)/) ?? 0);
  const time = Number(pick(/"time":(\d+)/) ?? 0);
  const msg = pick(/"msg":"((?:[^"\\]|\\.){0,500})"/) ?? '';
  return JSON.stringify({ level, time, msg: JSON.parse(`"${msg}"`), truncated: true });
}
