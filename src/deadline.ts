/** Bounding how long an awaited operation may take. */

/**
 * Settles as `promise` does or, once `ms` have passed, rejects with the error `onExpire` returns
 * (which may also abort the work, such as closing a socket). A rejection of `promise` after the
 * deadline is swallowed: nobody is left to tell.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, onExpire: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined);
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onExpire()), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
