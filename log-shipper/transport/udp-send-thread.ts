import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromSendThread, SendThreadOptions, ToSendThread } from './udp-send-protocol.js';

/** A request as udp-send-protocol.ts defines it, before its id is given. */
type Request = ToSendThread extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;
type Answer = { error?: { code?: string; message: string }; refused?: boolean; buffer?: ArrayBuffer };

/**
 * The compiled send-thread script: next to this module in dist/, or, when this module runs from its TypeScript
 * source (the test runner), the compiled twin in dist/ (Node 20 cannot load TypeScript in a worker).
 * Undefined when neither exists (then the transport sends from the main thread).
 */
export function sendThreadScript(): URL | undefined {
  for (const candidate of [new URL('./udp-send-worker.js', import.meta.url), new URL('../../dist/log-shipper/transport/udp-send-worker.js', import.meta.url)]) {
    if (fs.existsSync(fileURLToPath(candidate))) return candidate;
  }
  return undefined;
}

/**
 * The main thread's end of the UDP send thread: one request at a time per caller, answered by id. If the thread
 * dies, every waiting request fails and `alive` turns false; the transport then starts a new one.
 */
export class UdpSendThread {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(a: Answer): void; reject(e: Error): void }>();
  private failure?: Error;
  private closing = false;

  constructor(script: URL, opts: SendThreadOptions) {
    // Its heap holds one batch (≤ the batch size) and its datagrams; 2 MiB young space as the main thread's flags.
    this.worker = new Worker(script, { workerData: opts, resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 2 } });
    this.worker.unref();
    this.worker.on('message', (m: FromSendThread) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      w.resolve(m);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(this.closing ? 'the send thread was closed' : `the send thread exited with code ${code}`)));
  }

  get alive(): boolean {
    return this.failure === undefined;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }

  private request(r: Request, transfer: ArrayBuffer[] = []): Promise<Answer> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Answer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...r, id } satisfies ToSendThread, transfer);
    });
  }

  connect(address: string, port: number): Promise<Answer> {
    return this.request({ type: 'connect', address, port });
  }

  /** Hands the batch over (its buffers move to the thread) and resolves once every datagram was sent. */
  send(data: Uint8Array, ends: Uint32Array, kinds: Uint8Array, tails: Uint32Array): Promise<Answer> {
    return this.request({ type: 'batch', data, ends, kinds, tails }, [data.buffer as ArrayBuffer, ends.buffer as ArrayBuffer, kinds.buffer as ArrayBuffer, tails.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}
