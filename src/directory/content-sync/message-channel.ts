/**
 * LDAP messages over one socket of our own, pulled one at a time. While more than `highWaterBytes`
 * of received messages wait for the consumer, the socket is paused (TCP then holds the server
 * back), and it resumes below `lowWaterBytes`: memory stays bounded however slow the consumer is.
 *
 * A dropped connection is reported only after the messages received before it are consumed.
 */
import type net from 'node:net';
import { FrameSplitter } from './frames.ts';
import { decodeLdapMessage, type LdapResponse } from './ldap-message.ts';

/** How long to wait and what may interrupt the wait. */
export interface ReceiveOptions {
  /** Fail with "Operation timed out" when nothing arrives for this long (no limit when undefined). */
  timeoutMs?: number | undefined;
  /** Resolve with 'aborted' as soon as this aborts. */
  signal?: AbortSignal | undefined;
}

/** Queue limits, in bytes of received messages not yet consumed. */
export interface ChannelLimits {
  highWaterBytes: number;
  lowWaterBytes: number;
}

const DEFAULT_LIMITS: ChannelLimits = { highWaterBytes: 1024 * 1024, lowWaterBytes: 256 * 1024 };

/** Sends requests and hands back decoded responses in arrival order. */
export class MessageChannel {
  private readonly splitter = new FrameSplitter();
  private readonly frames: Buffer[] = [];
  private queuedBytes = 0;
  private failure: Error | undefined;
  private ended = false;
  private wake: (() => void) | undefined;
  private readonly onData = (chunk: Buffer): void => {
    try {
      for (const frame of this.splitter.push(chunk)) {
        this.frames.push(frame);
        this.queuedBytes += frame.length;
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      this.socket.destroy();
    }
    if (this.queuedBytes > this.limits.highWaterBytes) this.socket.pause();
    this.notify();
  };
  private readonly onError = (error: Error): void => this.fail(error);
  private readonly onClose = (): void => {
    this.ended = true;
    this.notify();
  };

  constructor(
    readonly socket: net.Socket,
    private readonly limits: ChannelLimits = DEFAULT_LIMITS,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('end', this.onClose);
  }

  /** True while the socket can still carry requests. */
  get isOpen(): boolean {
    return !this.ended && this.failure === undefined && !this.socket.destroyed && this.socket.writable;
  }

  /** Writes one encoded request. */
  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next message; throws the socket's error (or "Connection closed") once everything received is consumed. */
  async receive(options: ReceiveOptions = {}): Promise<LdapResponse | 'aborted'> {
    for (;;) {
      if (options.signal?.aborted === true) return 'aborted';
      const frame = this.frames.shift();
      if (frame !== undefined) {
        this.queuedBytes -= frame.length;
        if (this.socket.isPaused() && this.queuedBytes < this.limits.lowWaterBytes) this.socket.resume();
        return decodeLdapMessage(frame);
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) throw new Error('Connection closed');
      await this.waitForNews(options);
    }
  }

  /** Stops listening to the socket (before StartTLS hands it to TLS); the socket stays open. */
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    this.socket.off('end', this.onClose);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private waitForNews(options: ReceiveOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        options.signal?.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      options.signal?.addEventListener('abort', done, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          options.signal?.removeEventListener('abort', done);
          this.wake = undefined;
          reject(new Error('Operation timed out'));
        }, options.timeoutMs);
      }
    });
  }
}
