import * as dns from 'node:dns';
import * as net from 'node:net';
import { SwarmwatchError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { copyMessage, type OutMessage } from '../queue.js';
import type { Compression, Destination } from '../settings.js';
import { chunkDatagrams, Compressor, compressedBound, maxPayload } from './chunking.js';
import { ConnectedDatagramSocket } from './datagram-socket.js';
import { sendThreadScript, UdpSendThread } from './udp-send-thread.js';
import { SW_ERR_SHIPPER_DESTINATION, type Transport, type TransportHooks } from './transport.js';

export interface UdpTransportOptions {
  destination: Destination;
  compression: Compression;
  compressionLevel: number;
  datagramSize: number;
  resolveIntervalMs: number;
  /** Compress and send on a second thread (see UdpSendThread); false keeps everything on the main thread. */
  sendThread: boolean;
}

const SEND_BUFFER_BYTES = 4 * 1024 * 1024;
/** Batch buffers start at this size (a typical batch fits), so the one buffer in circulation is rarely replaced. */
const MIN_BATCH_BUFFER = 256 * 1024;

/**
 * GELF over UDP from one connected socket (gelf-pro creates a socket per message and resolves the host on every
 * send), on the send thread by default (UdpSendThread) or on the main thread.
 * The address is resolved at the first send and again every resolve interval. A message that would need more
 * than 128 chunks is truncated until it fits, never dropped.
 */
export class UdpTransport implements Transport {
  readonly url: string;
  readonly streamOriented = false;
  private socket?: ConnectedDatagramSocket;
  private socketAddress?: string;
  private address?: string;
  private resolvedAt = 0;
  private readonly compressor: Compressor;
  private thread?: UdpSendThread;
  private threadAddress?: string;
  private threadFailureLogged = false;
  private spareBuffer?: ArrayBuffer;
  connected = false;
  /** Whether the last batch went through the send thread (false: from the main thread). */
  sentFromThread = false;

  constructor(private readonly opts: UdpTransportOptions, private readonly hooks: TransportHooks, private readonly log: Logger) {
    this.url = opts.destination.url;
    this.compressor = new Compressor(opts.compression, opts.compressionLevel);
  }

  private async resolve(): Promise<string> {
    const host = this.opts.destination.host;
    if (net.isIP(host)) return host;
    if (this.address && Date.now() - this.resolvedAt < this.opts.resolveIntervalMs) return this.address;
    try {
      const { address } = await dns.promises.lookup(host);
      if (this.address && address !== this.address) this.log.info(`${host} now resolves to ${address} (was ${this.address})`);
      this.address = address;
      this.resolvedAt = Date.now();
      return address;
    } catch (err) {
      if (this.address) return this.address;
      throw new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { culprit: this.url, cause: err });
    }
  }

  /** The main thread's socket (send thread off), connected to `address`; a new address gets a new socket. */
  private async socketFor(address: string): Promise<ConnectedDatagramSocket> {
    if (this.socket && this.socketAddress === address) return this.socket;
    const old = this.socket;
    this.socket = undefined;
    await old?.close();
    try {
      this.socket = await ConnectedDatagramSocket.open(address, this.opts.destination.port, SEND_BUFFER_BYTES);
    } catch (err) {
      throw this.setUpFailed(err);
    }
    this.socketAddress = address;
    return this.socket;
  }

  private setUpFailed(err: unknown): SwarmwatchError {
    return new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `cannot set up UDP to ${this.url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { culprit: this.url, cause: err });
  }

  private sendFailed(err: { code?: string; message: string }, cause?: unknown): SwarmwatchError {
    const detail = err.code && err.code !== err.message && !err.message.startsWith(err.code) ? `${err.code}: ${err.message}` : err.message;
    return new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `send to ${this.url} failed: ${detail}`, {
      culprit: this.url, cause: cause ?? err,
      fix: err.code === 'EMSGSIZE' ? 'raise shipper.udp-chunk-size' : 'check that the destination host is reachable from this node; sending is retried',
    });
  }

  private sent(outcome: { refused?: boolean }): void {
    if (outcome.refused) this.log.debug('udp destination refused an earlier datagram', { url: this.url });
  }

  /** Compressed datagrams for one message, cutting its text until it fits 128 chunks. */
  datagramsOf(m: OutMessage): Buffer[] {
    const { datagramSize } = this.opts;
    // The message's own bytes first; only a cut (shrink) makes a new text.
    let payload = m.data ? m.data.subarray(m.at, m.at + m.bytes) : Buffer.from(m.json!);
    let limit = Math.min(m.bytes, maxPayload(datagramSize));
    for (let attempt = 0; attempt < 8; attempt++) {
      const dgrams = chunkDatagrams(this.compressor.compress(payload, m.tailId, m.tailBytes), datagramSize);
      if (dgrams) {
        if (attempt > 0) this.hooks.onTruncated('udp_chunk_limit');
        return dgrams;
      }
      // Compressed size scales roughly with text size: shrink the text and try again.
      limit = Math.floor(limit * 0.6);
      payload = Buffer.from(m.shrink(limit));
    }
    this.hooks.onTruncated('udp_chunk_limit');
    return chunkDatagrams(this.compressor.compress(Buffer.from(m.shrink(1024))), datagramSize) ?? [];
  }

  async send(batch: readonly OutMessage[]): Promise<void> {
    const address = await this.resolve();
    const thread = this.opts.sendThread ? await this.threadFor(address) : undefined;
    if (thread) await this.sendThroughThread(thread, batch);
    else await this.sendHere(await this.socketFor(address), batch);
    this.sentFromThread = thread !== undefined;
    this.connected = true;
  }

  /**
   * The send thread, started at the first batch and connected to `address`; undefined (send from this thread)
   * when its script is missing or it cannot start. A thread that died is replaced.
   */
  private async threadFor(address: string): Promise<UdpSendThread | undefined> {
    if (this.thread && !this.thread.alive) {
      this.log.warn('the UDP send thread stopped; starting a new one', { url: this.url });
      this.thread = undefined;
    }
    if (!this.thread) {
      const script = sendThreadScript();
      try {
        if (!script) throw new Error('udp-send-worker.js is missing (run the build)');
        this.thread = new UdpSendThread(script, { compression: this.opts.compression, compressionLevel: this.opts.compressionLevel, datagramSize: this.opts.datagramSize, sendBufferSize: SEND_BUFFER_BYTES });
        this.threadAddress = undefined;
      } catch (err) {
        if (!this.threadFailureLogged) this.log.warn(`cannot start the UDP send thread, sending from the main thread: ${(err as Error).message}`);
        this.threadFailureLogged = true;
        return undefined;
      }
    }
    if (this.threadAddress !== address) {
      // The thread drops its old socket before it connects: if this connect fails, it is connected to nothing.
      this.threadAddress = undefined;
      const answer = await this.thread.connect(address, this.opts.destination.port).catch((err: Error) => ({ error: { code: undefined, message: err.message } }));
      if (answer.error) throw this.setUpFailed(answer.error);
      this.threadAddress = address;
    }
    return this.thread;
  }

  /**
   * Packs the batch into one buffer that moves to the send thread without a copy. A message whose worst-case
   * compressed size might not fit 128 chunks is compressed and cut here (rare) and travels as finished datagrams.
   */
  private async sendThroughThread(thread: UdpSendThread, batch: readonly OutMessage[]): Promise<void> {
    const fits = maxPayload(this.opts.datagramSize);
    const ready = new Map<number, Buffer[]>();
    let total = 0;
    let items = 0;
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      if (compressedBound(m.bytes) <= fits) { total += m.bytes; items++; continue; }
      const datagrams = this.datagramsOf(m);
      ready.set(i, datagrams);
      for (const d of datagrams) total += d.length;
      items += datagrams.length;
    }
    // The thread hands each batch's buffer back: one buffer moves to and fro instead of one per batch.
    const spare = this.spareBuffer;
    this.spareBuffer = undefined;
    const data = spare && spare.byteLength >= total ? new Uint8Array(spare, 0, total) : new Uint8Array(new ArrayBuffer(Math.max(total, MIN_BATCH_BUFFER)), 0, total);
    const buf = Buffer.from(data.buffer, 0, total);
    const ends = new Uint32Array(items);
    const kinds = new Uint8Array(items);
    const tails = new Uint32Array(items * 2);
    let off = 0;
    let item = 0;
    for (let i = 0; i < batch.length; i++) {
      const datagrams = ready.get(i);
      if (!datagrams) {
        const m = batch[i]!;
        off += copyMessage(m, buf, off);
        tails[item * 2] = m.tailId;
        tails[item * 2 + 1] = m.tailBytes;
        ends[item++] = off;
        continue;
      }
      for (const d of datagrams) {
        off += d.copy(buf, off);
        kinds[item] = 1;
        ends[item++] = off;
      }
    }
    let answer;
    try {
      answer = await thread.send(data, ends, kinds, tails);
    } catch (err) {
      throw this.sendFailed({ message: (err as Error).message }, err);
    }
    if (answer.buffer) this.spareBuffer = answer.buffer;
    this.sent(answer);
    if (answer.error) throw this.sendFailed(answer.error);
  }

  private async sendHere(s: ConnectedDatagramSocket, batch: readonly OutMessage[]): Promise<void> {
    const datagrams: Buffer[] = [];
    for (const m of batch) datagrams.push(...this.datagramsOf(m));
    try {
      this.sent(await s.send(datagrams));
    } catch (err) {
      throw this.sendFailed(err as NodeJS.ErrnoException, err);
    }
  }

  async close(): Promise<void> {
    this.compressor.close();
    const thread = this.thread;
    this.thread = undefined;
    await thread?.close();
    const s = this.socket;
    this.socket = undefined;
    await s?.close();
  }
}
