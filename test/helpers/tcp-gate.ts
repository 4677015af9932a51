/**
 * A TCP pass-through in front of a real server, for "the network to the directory is down" when
 * the server itself cannot be frozen (Samba serves LDAP from child processes). While closed, the
 * port does not listen (connections are refused, as from a host that is down) and open connections
 * are cut; bytes are never looked at or changed.
 */
import net from 'node:net';

/** The gate: clients connect to 127.0.0.1:`port`. */
export interface TcpGate {
  port: number;
  /** Cuts every open connection and stops listening until `open()`. */
  close(): void;
  /** Listens again on the same port. */
  open(): Promise<void>;
  /** Stops listening. */
  stop(): Promise<void>;
}

/** Starts a gate in front of `host:port`, open. */
export async function startTcpGate(target: { host: string; port: number }): Promise<TcpGate> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
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
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  await listen(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the gate has no port');
  const { port } = address;
  let isListening = true;
  return {
    port,
    close() {
      if (isListening) server.close();
      isListening = false;
      cut();
    },
    async open() {
      if (!isListening) await listen(port);
      isListening = true;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        cut();
        if (isListening) server.close(() => resolve());
        else resolve();
        isListening = false;
      }),
  };
}
