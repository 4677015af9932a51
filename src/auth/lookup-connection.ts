/**
 * The service connection logins use to find users: opened on first use, kept open, and
 * replaced when it is lost. It is never the sync's connection and never a user-bound one.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { isDirbridgeError } from '../errors.ts';

/** Creates the shared lookup connection. */
export function createLookupConnection(open: () => Promise<DirectoryConnection>) {
  let current: Promise<DirectoryConnection> | undefined;

  const connection = (): Promise<DirectoryConnection> => {
    if (current === undefined) {
      const opening = open();
      current = opening;
      opening.catch(() => {
        if (current === opening) current = undefined;
      });
    }
    return current;
  };

  const discard = async (stale: DirectoryConnection) => {
    if (current !== undefined && (await current.catch(() => undefined)) === stale) current = undefined;
    await stale.close().catch(() => undefined);
  };

  return {
    /** Runs `work` on the connection; a lost connection is replaced and the work tried once more. */
    async use<T>(work: (directory: DirectoryConnection) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt += 1) {
        const directory = await connection();
        try {
          return await work(directory);
        } catch (error) {
          if (!isDirbridgeError(error, 'directory.unavailable', 'directory.timeout', 'directory.busy')) throw error;
          await discard(directory);
          if (attempt >= 2) throw error;
        }
      }
    },
    /** Closes the connection if one is open. */
    async close(): Promise<void> {
      const open = current;
      current = undefined;
      if (open !== undefined) await (await open.catch(() => undefined))?.close();
    },
  };
}

/** The lookup connection's public shape. */
export type LookupConnection = ReturnType<typeof createLookupConnection>;
