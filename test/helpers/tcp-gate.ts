/**
 * A TCP pass-through in front of a real server, for "the network to the directory is down" when
 * the server itself cannot be frozen (Samba serves LDAP from child processes). While closed, new
 * connections are refused and open ones are cut; bytes are never looked at or changed.
 */
import net from 'node:net';

/** The gate: clients connect to 127.0.0.1:`port`. */
export interface TcpGate {
  port: number;
  /** Cuts every open connection and refuses new ones until `open()`. */
  close(): void;
  open(): void;
  /** Stops listening. */
  stop(): Promise<void>;
}

/** Starts a gate in front of `host:port`, open. */
export async function startTcpGate(target: { host: string; port: number }): Promise<TcpGate> {
  let isOpen = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!isOpen) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the gate has no port');
  return {
    port: address.port,
    close() {
      isOpen = false;
      for (const socket of sockets) socket.destroy();
    },
    open() {
      isOpen = true;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
