/** Counting this process's real TCP connections, for tests that bound them. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * ESTABLISHED TCP connections from this process to `port`: rows of /proc/net/tcp{,6} whose remote
 * port is `port`, in state 01, whose socket inode is one of this process's file descriptors.
 */
export function establishedTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // the fd closed between readdir and readlink
    }
  }
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      const remote = columns[2];
      const state = columns[3];
      const inode = columns[9];
      if (remote === undefined || state !== '01' || inode === undefined) continue;
      const remotePort = Number.parseInt(remote.split(':')[1] ?? '', 16);
      if (remotePort === port && inodes.has(inode)) count += 1;
    }
  }
  return count;
}
