import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { SwarmwatchError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { OutMessage } from '../queue.js';
import type { Destination, TlsSettings } from '../settings.js';
import { SW_ERR_SHIPPER_DESTINATION, SW_ERR_SHIPPER_WRITE_TIMEOUT, type Transport, type TransportHooks } from './transport.js';

export interface StreamTransportOptions {
  destination: Destination;
  tls?: TlsSettings;
  writeTimeoutMs: number;
  resolveIntervalMs: number;
}

/**
 * GELF over one persistent TCP or TLS connection: null-terminated messages, no compression (GELF TCP has none).
 * gelf-pro opens a connection per message (node-gelf-pro#67); this keeps one, reconnects on demand, and re-resolves
 * the host name periodically so a moved receiver is followed (the gelf driver resolves once, moby#17904).
 */
export class StreamTransport implements Transport {
  readonly url: string;
  readonly streamOriented = true;
  private socket?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private resolveTimer?: NodeJS.Timeout;
  private addressChanged = false;
  private everConnected = false;
  connected = false;

  constructor(private readonly opts: StreamTransportOptions, private readonly hooks: TransportHooks, private readonly log: Logger) {
    this.url = opts.destination.url;
    this.resolveTimer = setInterval(() => this.checkAddress(), opts.resolveIntervalMs);
    this.resolveTimer.unref();
  }

  private checkAddress(): void {
    const s = this.socket;
    if (!s || !s.remoteAddress || net.isIP(this.opts.destination.host)) return;
    dns.lookup(this.opts.destination.host, (err, address) => {
      if (!err && s === this.socket && address !== s.remoteAddress) {
        this.log.info(`${this.opts.destination.host} now resolves to ${address} (was ${s.remoteAddress}); reconnecting after the current batch`);
        this.addressChanged = true;
      }
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const { host, port } = this.opts.destination;
      const t = this.opts.tls;
      const s = t
        ? tls.connect({ host, port, ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.verify, servername: t.servername ?? (net.isIP(host) ? undefined : host) })
        : net.connect({ host, port });
      const timer = setTimeout(() => s.destroy(new Error(`connect timed out after ${this.opts.writeTimeoutMs} ms`)), this.opts.writeTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `cannot connect to ${this.url}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { culprit: this.url, cause: err }));
      };
      s.once('error', fail);
      s.once(t ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        s.setKeepAlive(true, 10_000);
        s.setNoDelay(true);
        // Receivers never talk back; a close or error from their side just ends this connection.
        s.on('data', () => undefined);
        s.on('error', (err) => this.log.debug('connection error', { error: err.message }));
        s.on('end', () => s.destroy());
        s.on('close', () => { if (this.socket === s) { this.socket = undefined; this.connected = false; } });
        if (this.everConnected) this.hooks.onReconnect();
        this.everConnected = true;
        this.socket = s;
        resolve(s);
      });
    }).finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  async send(batch: readonly OutMessage[], onProgress?: (messagesInKernel: number) => void): Promise<void> {
    const s = await this.connect();
    if (this.opts.tls || socketFd(s) === undefined) await this.sendThroughStream(s, batch, onProgress);
    else await this.sendToKernel(s, batch, onProgress);
    this.connected = true;
    if (this.addressChanged) {
      this.addressChanged = false;
      this.socket = undefined;
      s.end();
    }
  }

  /**
   * Plain TCP: write(2) straight on the socket's descriptor, so the number of bytes the kernel took is known and
   * every message wholly inside them is reported at once. Through Node's stream, a write the kernel takes only
   * in part (a slow receiver) leaves whole messages delivered but unreported until the rest drains; a kill -9 then
   * made them go out twice. A message cut at the kernel's boundary is not reported: if the process dies, the
   * receiver sees an unterminated frame at connection close and discards it, and the restart sends it whole.
   */
  private async sendToKernel(s: net.Socket, batch: readonly OutMessage[], onProgress?: (n: number) => void): Promise<void> {
    const ends = new Array<number>(batch.length);
    let text = '';
    let size = 0;
    for (let i = 0; i < batch.length; i++) {
      text += batch[i]!.json + '\0';
      size += batch[i]!.bytes + 1;
      ends[i] = size;
    }
    const data = Buffer.from(text);
    let written = 0;
    let reported = 0;
    let pauseMs = 1;
    let lastProgress = Date.now();
    while (written < data.length) {
      // Looked up before every write: once the socket is destroyed its descriptor number may belong to a new file.
      const fd = socketFd(s);
      if (fd === undefined || s.destroyed) throw this.closedDuringWrite();
      let n = 0;
      try {
        n = fs.writeSync(fd, data, written, data.length - written);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
          s.destroy();
          throw this.writeFailed(err);
        }
      }
      if (n > 0) {
        written += n;
        let whole = reported;
        while (whole < ends.length && ends[whole]! <= written) whole++;
        if (whole > reported) { reported = whole; onProgress?.(whole); }
        lastProgress = Date.now();
        pauseMs = 1;
        continue;
      }
      if (Date.now() - lastProgress > this.opts.writeTimeoutMs) {
        const err = this.writeTimedOut();
        s.destroy(err);
        throw err;
      }
      // The kernel's send buffer is full: the receiver is slow. Node offers no writability event outside its own
      // write queue, so poll, backing off to 20 ms (the receiver, not this loop, sets the pace).
      await new Promise((r) => setTimeout(r, pauseMs));
      pauseMs = Math.min(pauseMs * 2, 20);
    }
    if (reported < batch.length) onProgress?.(batch.length);
  }

  /** TLS (records are encrypted in user space, so kernel bytes do not map to messages): Node's stream write. */
  private sendThroughStream(s: net.Socket, batch: readonly OutMessage[], onProgress?: (n: number) => void): Promise<void> {
    let data = '';
    for (const m of batch) data += m.json + '\0';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = this.writeTimedOut();
        s.destroy(err);
        reject(err);
      }, this.opts.writeTimeoutMs);
      const onClose = () => {
        clearTimeout(timer);
        reject(this.closedDuringWrite());
      };
      s.once('close', onClose);
      let reported = false;
      s.write(data, (err) => {
        clearTimeout(timer);
        s.off('close', onClose);
        if (err) { reject(this.writeFailed(err)); return; }
        if (!reported) onProgress?.(batch.length);
        resolve();
      });
      // Nothing left in the stream's buffer: it all went to the kernel within this call (Node runs the stream's
      // onwrite synchronously for a synchronous write), so report now rather than a few ticks later.
      if (s.writableLength === 0) { reported = true; onProgress?.(batch.length); }
    });
  }

  private closedDuringWrite(): SwarmwatchError {
    return new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `connection to ${this.url} closed during a write`, { culprit: this.url });
  }

  private writeTimedOut(): SwarmwatchError {
    return new SwarmwatchError(SW_ERR_SHIPPER_WRITE_TIMEOUT, `${this.url} accepted no data for ${this.opts.writeTimeoutMs} ms`, { culprit: this.url });
  }

  private writeFailed(err: unknown): SwarmwatchError {
    const e = err as NodeJS.ErrnoException;
    return new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `write to ${this.url} failed: ${e.code ?? e.message}`, { culprit: this.url, cause: err });
  }

  async close(): Promise<void> {
    clearInterval(this.resolveTimer);
    const s = this.socket;
    this.socket = undefined;
    this.connected = false;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { s.destroy(); resolve(); }, 2000);
      s.once('close', () => { clearTimeout(timer); resolve(); });
      s.end();
    });
  }
}

/** The socket's file descriptor (libuv exposes it on the handle on Unix), or undefined where it is not available. */
function socketFd(s: net.Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
