/**
 * The `skip` option of a suite that needs a server `problem` says is missing: skipped on a
 * developer's machine without it, but run under CI (`CI` set), where its first check fails loudly.
 */
export function skipUnlessCi(problem: string | undefined, what?: string): string | false {
  if (problem === undefined || process.env['CI'] !== undefined) return false;
  return what === undefined ? problem : `${what}: ${problem}`;
}
