import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MessageChannel } from './message-channel.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
/** A bind response with message id `id` (14 bytes). */
const response = (id: number): Buffer => hex(`30 0c 02 01 ${id.toString(16).padStart(2, '0')} 61 07 0a 01 00 04 00 04 00`);

describe('MessageChannel (over a loopback socket pair)', () => {
  let server: net.Server;
  let peer: Promise<net.Socket>;
  let port = 0;
  before(async () => {
    let accept: (socket: net.Socket) => void = () => undefined;
    peer = new Promise((resolve) => (accept = resolve));
    server = net.createServer((socket) => accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });
  after(() => server.close());

  it('delivers messages in order, pauses the socket above the high-water mark and resumes when drained, then reports the close', async () => {
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const remote = await peer;
    const channel = new MessageChannel(client, { highWaterBytes: 14 * 3, lowWaterBytes: 14 });
    remote.write(Buffer.concat(Array.from({ length: 10 }, (_, index) => response(index + 1))));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(client.isPaused(), true);
    const ids: number[] = [];
    for (let index = 0; index < 10; index++) {
      const message = await channel.receive({ timeoutMs: 1000 });
      assert.notEqual(message, 'aborted');
      if (message !== 'aborted') ids.push(message.messageId);
    }
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(client.isPaused(), false);
    remote.end();
    await assert.rejects(channel.receive({ timeoutMs: 1000 }), /Connection closed/);
    client.destroy();
  });

  it('times out and is interrupted by an abort', async () => {
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const channel = new MessageChannel(client);
    await assert.rejects(channel.receive({ timeoutMs: 30 }), /Operation timed out/);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    assert.equal(await channel.receive({ signal: controller.signal }), 'aborted');
    client.destroy();
  });
});
