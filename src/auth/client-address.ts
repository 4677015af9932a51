/**
 * Client addresses as the login throttle counts them. Pure.
 *
 * An IPv4 address counts as itself. An IPv6 address counts as its /64 network: one subscriber
 * usually holds a whole /64 (and privacy extensions rotate addresses inside it), so counting single
 * IPv6 addresses would give one attacker 2^64 fresh budgets. An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, what a dual-stack socket reports) is its IPv4 address.
 */
import { isIP } from 'node:net';

/** True when `value` is exactly one IPv4 or IPv6 address (no port, no list, no spaces). */
export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** The 8 groups of an IPv6 address (zone removed), or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  const zoneless = address.split('%')[0] ?? '';
  if (isIP(zoneless) !== 6) return undefined;
  let text = zoneless.toLowerCase();
  // A trailing dotted IPv4 part stands for the last two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const octets = (dotted[2] ?? '').split('.').map((part) => Number.parseInt(part, 10));
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${dotted[1] ?? ''}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const start = parse(head);
  const end = tail === undefined ? [] : parse(tail);
  const groups = [...start, ...new Array<number>(8 - start.length - end.length).fill(0), ...end];
  return groups.length === 8 && groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff) ? groups : undefined;
}

/**
 * The name under which the throttle counts and remembers `address`: the IPv4 address, or the
 * IPv6 /64 network as `2001:db8:1:2::/64`; undefined when `address` is not an IP address.
 */
export function addressKey(address: string): string | undefined {
  const trimmed = address.trim();
  if (isIP(trimmed) === 4) return trimmed;
  const groups = ipv6Groups(trimmed);
  if (groups === undefined) return undefined;
  const isMapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (isMapped) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}
