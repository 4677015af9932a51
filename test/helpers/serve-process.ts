/**
 * `dirbridge serve` as a real child process (bin/dirbridge.js), for tests where the process
 * itself is the subject: it must survive a store outage, or is killed with SIGKILL and started
 * again. Output is collected; a crash is seen as an exit the test did not ask for.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { onExit, signal } from '../fixtures/proc.ts';

/** The command's entry point. */
export const DIRBRIDGE_BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'dirbridge.js');

/** A running `dirbridge serve`. */
export interface ServeProcess {
  /** `http://127.0.0.1:PORT`. */
  address: string;
  pid: number;
  /** Everything written to stdout (JSON log lines) and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** The exit, once it happened: code and signal. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves with the exit code and signal when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal (SIGKILL: no chance to clean up). */
  kill(sig: NodeJS.Signals): void;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** A fetch against the server, with a session cookie and CSRF token when signed in. */
  request(method: string, url: string, body?: unknown): Promise<{ status: number; json: any; text: string }>;
  /** Signs `admin` in; later requests carry the cookie. Returns the status and body. */
  signIn(password: string, username?: string): Promise<{ status: number; json: any }>;
}

/** Starts `dirbridge --config CONFIG serve --port 0` with `env` (PATH and HOME are passed on) and waits until it listens. */
export async function startServe(config: string, env: Record<string, string>, options: { startTimeoutMs?: number } = {}): Promise<ServeProcess> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [DIRBRIDGE_BIN, '--config', config, 'serve', '--port', '0'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  const pid = child.pid ?? 0;
  const unregister = onExit(() => signal(pid, 'SIGKILL'));
  let stdout = '';
  let stderr = '';
  let exitState: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, sig) => {
      exitState = { code, signal: sig };
      unregister();
      resolve(exitState);
    }),
  );
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), options.startTimeoutMs ?? 60_000);
    const look = () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stderr.on('data', look);
    void exited.then((state) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${String(state.code)} ${String(state.signal)}) before listening: ${stderr}`));
    });
    look();
  });
  let cookie: string | undefined;
  let csrf: string | undefined;
  const request: ServeProcess['request'] = async (method, url, body) => {
    const headers: Record<string, string> = {};
    if (cookie !== undefined) headers['cookie'] = cookie;
    if (csrf !== undefined && method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${address}${url}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      const state = exitState === undefined ? 'running' : `exited (${String(exitState.code)} ${String(exitState.signal)})`;
      throw new Error(`${method} ${url} failed (${error instanceof Error ? error.message : String(error)}); serve ${state}; stderr: ${stderr.slice(-4_000)}`, {
        cause: error,
      });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  };
  return {
    address,
    pid,
    stdout: () => stdout,
    stderr: () => stderr,
    exit: () => exitState,
    exited,
    kill: (sig) => signal(pid, sig),
    async stop() {
      signal(pid, 'SIGTERM');
      const timer = setTimeout(() => signal(pid, 'SIGKILL'), 30_000);
      const state = await exited;
      clearTimeout(timer);
      return state;
    },
    request,
    async signIn(password, username = 'admin') {
      const response = await fetch(`${address}/api/v1/admin/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      const json = (await response.json()) as { csrfToken?: string };
      if (response.status === 200) {
        cookie = (response.headers.get('set-cookie') ?? '').split(';')[0];
        csrf = json.csrfToken;
      }
      return { status: response.status, json };
    },
  };
}
