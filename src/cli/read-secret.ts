/** Reads a password without it ever being a command-line argument: a hidden prompt, or the first line of stdin. */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

/** Reads one secret line; on a terminal the typed characters are not echoed. */
export async function readSecret(prompt: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (input.isTTY !== true) {
    let text = '';
    for await (const chunk of input) {
      text += typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
      if (text.includes('\n')) break;
    }
    return text.split(/\r?\n/)[0] ?? '';
  }
  output.write(prompt);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const reader = createInterface({ input, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => reader.question('', resolve));
  } finally {
    reader.close();
    output.write('\n');
  }
}
