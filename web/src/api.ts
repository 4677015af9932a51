/**
 * The console's only way to the server: the HTTP API, with the session cookie (sent by the
 * browser) and the CSRF token in `X-CSRF-Token` on every state-changing request.
 */

/** An error answer of the API: `{ error: { code, message, problems?, fields?, … } }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problems: string[];
  readonly fields: string[];
  /** The whole `error` object, for codes that carry more (e.g. `verification` of `settings.verification_failed`). */
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, problems: string[] = [], fields: string[] = [], details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.problems = problems;
    this.fields = fields;
    this.details = details;
  }
}

let csrfToken: string | null = null;
let onUnauthenticated: () => void = () => {};

/** Remembers the CSRF token of the current session (from sign-in or `GET /api/v1/admin/session`). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** What to do when the session has ended (401): the app shows the sign-in page. */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Calls the API; resolves with the parsed JSON body (undefined for 204), rejects with ApiError. */
export async function api<T>(method: Method, path: string, body?: unknown, options: { quiet401?: boolean } = {}): Promise<T> {
  return (await apiResponse<T>(method, path, body, options)).body;
}

/** Like `api`, with the response's headers too (e.g. `Dirbridge-Write-Back`, how a change's directory side went). */
export async function apiResponse<T>(
  method: Method,
  path: string,
  body?: unknown,
  options: { quiet401?: boolean } = {},
): Promise<{ body: T; headers: Headers }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (error) {
    throw new ApiError(0, 'network', `the server did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = isRecord(parsed) && isRecord(parsed['error']) ? parsed['error'] : {};
    const code = typeof error['code'] === 'string' ? error['code'] : `http.${response.status}`;
    const message = typeof error['message'] === 'string' ? error['message'] : `${response.status} ${response.statusText}`;
    if (response.status === 401 && !options.quiet401) onUnauthenticated();
    throw new ApiError(response.status, code, message, stringList(error['problems']), stringList(error['fields']), error);
  }
  return { body: parsed as T, headers: response.headers };
}

/** A query string from defined values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** A readable message for any thrown value. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.status === 0 ? error.message : `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
