/** Runs a login and records its outcome in the metrics; the thrown error is left for the error handler. */
import { LoginFailure, type LoginInput, type LoginSuccess } from '../auth/login.ts';
import { isDirbridgeError } from '../errors.ts';
import type { RouteContext } from './context.ts';

/** Logs in through the app's login service (the same path as the CLI's `login`). */
export async function loginWithMetrics(context: RouteContext, kind: 'app' | 'admin', input: LoginInput): Promise<LoginSuccess> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await context.app.login.login(input);
    context.metrics.observeLogin(kind, 'succeeded', undefined, seconds());
    return result;
  } catch (error) {
    const outcome = isDirbridgeError(error) ? error.code.replace(/^auth\./, '') : 'error';
    context.metrics.observeLogin(kind, outcome, error instanceof LoginFailure ? error.reason : 'error', seconds());
    throw error;
  }
}
