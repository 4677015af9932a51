/**
 * The process's last resort for an error that nothing else handled. Every store or directory
 * fault is meant to be handled where it happens (an outage is an outcome, never a crash); should
 * one still escape, it is reported in one line with its code instead of Node's stack dump:
 * - a promise rejected with no handler is reported and the process goes on (a server keeps
 *   serving, a command ends with its own exit code);
 * - an exception thrown with no handler (e.g. an 'error' event with no listener) leaves the
 *   process in an unknown state: it is reported and the process exits with 1. A sync it was
 *   running is recorded as interrupted once its lease expires.
 */
import { isDirbridgeError } from '../errors.ts';
import { EXIT, type Output } from './output.ts';

/** One line about an error: its code and message. */
function describe(error: unknown): string {
  const code = isDirbridgeError(error) ? error.code : 'internal';
  const message = error instanceof Error ? error.message : String(error);
  return `[${code}]: ${message}`;
}

/** Installs the handlers on `target` (the process). */
export function installLastResortHandlers(target: Pick<NodeJS.Process, 'on' | 'exit'>, out: Pick<Output, 'stderr'>): void {
  target.on('unhandledRejection', (reason: unknown) => {
    out.stderr(`error ${describe(reason)} (a failure no caller handled; dirbridge goes on)\n`);
  });
  target.on('uncaughtException', (error: Error) => {
    out.stderr(`error ${describe(error)} (an unhandled failure; dirbridge stops)\n`);
    target.exit(EXIT.failed);
  });
}
