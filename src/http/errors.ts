/**
 * One error handler for the whole server: DirbridgeError codes map to HTTP statuses, request
 * validation names the failing path, and everything else is a bare 500. Bodies are always
 * `{ error: { code, message } }`; stack traces, causes and details other than the listed
 * ones never reach a client.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { type ErrorCode, isDirbridgeError } from '../errors.ts';

/** An error raised by the HTTP layer itself (authentication, CSRF, rate limits). */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;

  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
  }
}

/** The HTTP status for a DirbridgeError code. */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'settings.invalid':
    case 'usage.invalid':
    case 'writeback.invalid':
      return 400;
    case 'auth.invalid_credentials':
      return 401;
    case 'store.not_found':
    case 'users.not_found':
      return 404;
    case 'store.conflict':
    case 'settings.conflict':
    case 'store.ambiguous':
    case 'users.directory_managed':
    case 'sync.already_running':
    case 'directory.ambiguous':
    case 'directory.already_exists':
    case 'directory.assertion_failed':
    case 'directory.value_exists':
    case 'directory.no_such_value':
    case 'directory.not_allowed_on_non_leaf':
    case 'writeback.refused':
    case 'writeback.passwords_off':
    case 'writeback.entry_missing':
    case 'writeback.not_supported':
    case 'writeback.out_of_scope':
      return 409;
    case 'directory.password_policy':
      return 422;
    case 'auth.throttled':
      return 429;
    case 'auth.directory_unavailable':
    case 'directory.unavailable':
    case 'directory.busy':
    case 'store.unavailable':
    case 'store.disk_full':
    case 'store.timeout':
    case 'sync.interrupted':
      return 503;
    case 'directory.timeout':
    case 'directory.time_limit':
      return 504;
    case 'directory.tls_failure':
    case 'directory.invalid_credentials':
    case 'directory.size_limit':
    case 'directory.no_such_object':
    case 'directory.insufficient_access':
    case 'directory.protocol':
    case 'directory.invalid_filter':
    case 'directory.invalid_dn':
    case 'directory.object_class_violation':
    case 'directory.schema_violation':
    case 'directory.constraint_violation':
    case 'directory.unwilling_to_perform':
    case 'directory.unsupported':
    case 'directory.insecure_connection':
    case 'directory.sync_not_permitted':
    case 'directory.sync_cookie_invalid':
    case 'directory.sync_refresh_required':
    case 'sync.incomplete_read':
    case 'sync.cursor_invalid':
      return 502;
    case 'settings.unreadable':
    case 'settings.missing':
    case 'settings.secret_key_invalid':
    case 'settings.secret_key_missing':
    case 'settings.secret_key_mismatch':
    case 'settings.secret_unreadable':
    case 'store.corrupt':
    case 'store.migration_failed':
      return 500;
  }
}

/** The body of a failure. */
export interface ErrorBody {
  error: { code: string; message: string; problems?: string[]; fields?: string[] };
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item): item is string => typeof item === 'string') ? value : undefined;
}

/** Maps any thrown value to a status and a safe body. */
export function errorResponse(error: unknown): { statusCode: number; body: ErrorBody } {
  if (error instanceof HttpError) return { statusCode: error.statusCode, body: { error: { code: error.code, message: error.message } } };
  if (isDirbridgeError(error)) {
    const problems = stringArray(error.details['problems']);
    const fields = stringArray(error.details['fields']);
    return {
      statusCode: statusForCode(error.code),
      body: {
        error: { code: error.code, message: error.message, ...(problems === undefined ? {} : { problems }), ...(fields === undefined ? {} : { fields }) },
      },
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = error.validationContext ?? 'request';
    const problems = error.validation.map((issue) => {
      const at = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
      return `${context}${at === '' ? '' : `.${at}`}: ${issue.message}`;
    });
    return { statusCode: 400, body: { error: { code: 'request.invalid', message: problems.join('; ') || 'invalid request', problems } } };
  }
  if (isFastifyClientError(error)) {
    return { statusCode: error.statusCode, body: { error: { code: 'request.invalid', message: error.message } } };
  }
  return { statusCode: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}

/** A Fastify error the client caused (malformed JSON, unsupported media type, body too large, ...). */
function isFastifyClientError(error: unknown): error is FastifyError & { statusCode: number } {
  return (
    error instanceof Error &&
    'code' in error &&
    typeof error.code === 'string' &&
    error.code.startsWith('FST_') &&
    'statusCode' in error &&
    typeof error.statusCode === 'number' &&
    error.statusCode >= 400 &&
    error.statusCode < 500
  );
}

/** Installs the error and not-found handlers. */
export function installErrorHandlers(server: FastifyInstance): void {
  server.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { statusCode, body } = errorResponse(error);
    if (statusCode >= 500) {
      const code = isDirbridgeError(error) ? error.code : isResponseSerializationError(error) ? 'response.invalid' : 'internal';
      request.log.error({ err: error, code, statusCode }, 'request failed');
    } else {
      request.log.info({ code: body.error.code, statusCode }, 'request refused');
    }
    return reply.code(statusCode).type('application/json; charset=utf-8').send(body);
  });
  server.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send({ error: { code: 'http.not_found', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` } } satisfies ErrorBody),
  );
}
