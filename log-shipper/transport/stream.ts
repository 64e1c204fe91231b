import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { SwarmwatchError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { framedRuns, type OutMessage } from '../queue.js';
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
      const startedAt = Date.now();
      const timer = setTimeout(() => s.destroy(new Error(`connect timed out after ${this.opts.writeTimeoutMs} ms`)), this.opts.writeTimeoutMs);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        reject(new SwarmwatchError(SW_ERR_SHIPPER_DESTINATION, `cannot connect to ${this.url}: ${describeConnectError(err, t !== undefined)}`, { culprit: this.url, cause: err }));
      };
      const closedEarly = () => fail(new Error('the receiver closed the connection right after the TLS handshake'));
      s.once('error', fail);
      // TLS 1.3: a session ticket comes only once the receiver has checked our certificate (or found it needs none).
      let accepted = false;
      s.once('session', () => { accepted = true; });
      const connected = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.off('error', fail);
        s.off('close', closedEarly);
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
      };
      s.once(t ? 'secureConnect' : 'connect', () => {
        // In TLS 1.3 the client is done with the handshake before the receiver has checked its certificate: a
        // receiver that refuses it (none given, expired, another CA) answers our first bytes with an alert and a
        // close, after the kernel took them, and every batch would count as sent while none arrives. So the
        // connection is used only once the receiver's session ticket says it accepted us, or after twice the
        // handshake's time (at least 100 ms) passed without an alert, for receivers that send no tickets.
        if (!t || accepted || (s as tls.TLSSocket).getProtocol() !== 'TLSv1.3') { connected(); return; }
        s.once('close', closedEarly);
        const wait = setTimeout(connected, Math.min(2000, Math.max(100, 2 * (Date.now() - startedAt))));
        // Not from inside the 'session' callback: OpenSSL is still reading then, and a write it triggers (the batch
        // waiting for this connection, in the microtasks run on the way out) corrupts the record stream (bad record mac).
        s.once('session', () => { clearTimeout(wait); setImmediate(connected); });
        s.once('close', () => clearTimeout(wait));
      });
    }).finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  async send(batch: readonly OutMessage[], onProgress?: (messagesInKernel: number) => void, beforeWrite?: (messagesAfterWrite: number) => void, nothingTaken?: () => void): Promise<void> {
    const s = await this.connect();
    if (this.opts.tls || socketFd(s) === undefined) await this.sendInRecords(s, batch, onProgress, beforeWrite);
    else await this.sendToKernel(s, batch, onProgress, beforeWrite, nothingTaken);
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
  private async sendToKernel(s: net.Socket, batch: readonly OutMessage[], onProgress?: (n: number) => void, beforeWrite?: (n: number) => void, nothingTaken?: () => void): Promise<void> {
    const ends = new Array<number>(batch.length);
    let size = 0;
    for (let i = 0; i < batch.length; i++) ends[i] = size += batch[i]!.bytes + 1;
    // Written with writev straight from the arena's slabs (framedRuns): no batch buffer, no copy per message.
    const runs = framedRuns(batch, 0, batch.length);
    let written = 0;
    /** Where `written` is in `runs`: run index and offset in it. */
    let run = 0;
    let runOff = 0;
    /** Bytes the last write offered: fewer than up to `limit` when IOV_MAX cut its list. */
    let offered = 0;
    const write = (fd: number, limit: number): number => {
      if (runs.length - run === 1 || (limit - written <= runs[run]!.length - runOff)) {
        offered = Math.min(limit - written, runs[run]!.length - runOff);
        return fs.writeSync(fd, runs[run]!, runOff, offered);
      }
      const iov: Buffer[] = [];
      let pos = written;
      for (let k = run, o = runOff; pos < limit && k < runs.length && iov.length < IOV_MAX; k++, o = 0) {
        const r = runs[k]!;
        const take = Math.min(r.length - o, limit - pos);
        iov.push(o === 0 && take === r.length ? r : r.subarray(o, o + take));
        pos += take;
      }
      offered = pos - written;
      return fs.writevSync(fd, iov);
    };
    const skip = (n: number) => {
      while (n > 0) {
        const left = runs[run]!.length - runOff;
        if (n < left) { runOff += n; return; }
        n -= left;
        run++;
        runOff = 0;
      }
    };
    let reported = 0;
    let pauseMs = 1;
    let lastProgress = Date.now();
    // The first write offers the whole batch (its cursor state is serialized before the send); see nextOffer.
    let offerEnd = size;
    /** The messages whole in the kernel once it takes the offer. */
    let offerMessages = batch.length;
    while (written < size) {
      // Looked up before every write: once the socket is destroyed its descriptor number may belong to a new file.
      const fd = socketFd(s);
      if (fd === undefined || s.destroyed) throw this.closedDuringWrite();
      beforeWrite?.(offerMessages);
      let n = 0;
      try {
        n = write(fd, offerEnd);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
          s.destroy();
          throw this.writeFailed(err);
        }
      }
      if (n > 0) {
        written += n;
        skip(n);
        let whole = reported;
        while (whole < ends.length && ends[whole]! <= written) whole++;
        if (whole > reported) { reported = whole; onProgress?.(whole); }
        lastProgress = Date.now();
        pauseMs = 1;
        // The kernel took all it was offered, short of offerEnd only because IOV_MAX cut the list: no backpressure.
        // (Not looped inside write(): every syscall is followed by its commit, the kill -9 window stays one write.)
        if (written < size && !(n === offered && written < offerEnd)) {
          offerMessages = nextOffer(ends, reported, written, n);
          offerEnd = ends[offerMessages - 1]!;
        }
        continue;
      }
      nothingTaken?.();
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

  /**
   * TLS (records are encrypted in user space, so kernel bytes do not map to messages): the batch goes through Node's
   * stream in pieces of whole messages, each one TLS record at most, one piece in flight. A piece's messages are
   * reported once its record is in the kernel: right after the write when that is visible on Node's handles (see
   * recordInKernel), else in the write's callback, which Node runs once the encrypted bytes were handed to the
   * kernel. A kill -9 leaves the receiver whole records (reported messages), a cut record it cannot decrypt, or a
   * message spread over several records whose frame never ended: nothing unreported is delivered. One piece at a
   * time also keeps Node's Writable from joining queued pieces through _writev, which TLS would re-cut into records
   * at other boundaries. Also the path for plain TCP where the descriptor is not available.
   */
  private sendInRecords(s: net.Socket, batch: readonly OutMessage[], onProgress?: (n: number) => void, beforeWrite?: (n: number) => void): Promise<void> {
    const pieces = recordPieces(batch);
    const handles = tlsHandles(s);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: SwarmwatchError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      // Restarted by every piece the kernel takes: a slow receiver is fine, one that takes nothing is not.
      const timer = setTimeout(() => {
        const err = this.writeTimedOut();
        s.destroy(err);
        settle(err);
      }, this.opts.writeTimeoutMs);
      const onClose = () => settle(this.closedDuringWrite());
      s.once('close', onClose);
      let reported = 0;
      const report = (n: number) => {
        if (n > reported) { reported = n; onProgress?.(n); }
      };
      let next = 0;
      const writeNext = () => {
        if (next === pieces.length) { settle(); return; }
        const piece = pieces[next++]!;
        beforeWrite?.(piece.end);
        const sentBefore = handles?.tcp.bytesWritten ?? 0;
        s.write(piece.data, (err) => {
          if (settled) return;
          if (err) { settle(isDestroyedStream(err) ? this.closedDuringWrite() : this.writeFailed(err)); return; }
          timer.refresh();
          report(piece.end);
          writeNext();
        });
        if (handles && recordInKernel(handles, sentBefore)) report(piece.end);
      };
      writeNext();
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

/** Buffers one writev takes at most (Linux's IOV_MAX); a longer list goes out over several writes. */
const IOV_MAX = 1024;

/** Most plaintext one TLS record carries (RFC 8446 5.1; the same in TLS 1.2): a piece this size is one record. */
const TLS_RECORD_BYTES = 16_384;

/**
 * The batch as null-terminated messages cut between messages into pieces of at most one TLS record; a message larger
 * than that is a piece of its own. `end`: how many messages of the batch the pieces up to this one hold.
 */
function recordPieces(batch: readonly OutMessage[]): { data: Buffer; end: number }[] {
  const pieces: { data: Buffer; end: number }[] = [];
  let first = 0;
  let bytes = 0;
  const cut = (end: number) => {
    const runs = framedRuns(batch, first, end);
    pieces.push({ data: runs.length === 1 ? runs[0]! : Buffer.concat(runs, bytes), end });
  };
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    if (bytes > 0 && bytes + m.bytes + 1 > TLS_RECORD_BYTES) {
      cut(i);
      first = i;
      bytes = 0;
    }
    bytes += m.bytes + 1;
  }
  if (bytes > 0) cut(batch.length);
  return pieces;
}

/** A piece's write refused because the connection had closed under it (rather than a syscall error). */
function isDestroyedStream(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED';
}

/** Node's internal handles under a TLS socket (Node 20: a TLSWrap over the TCP handle); both read live. */
interface TlsHandles {
  /** Encrypted bytes TLS holds that the TCP handle has not confirmed yet (written to it or not). */
  tls: { readonly writeQueueSize: number };
  /** Bytes handed to the TCP handle in total, and those of them libuv still queues (not in the kernel). */
  tcp: { readonly writeQueueSize: number; readonly bytesWritten: number };
}

function tlsHandles(s: net.Socket): TlsHandles | undefined {
  const tlsHandle = (s as unknown as { _handle?: { writeQueueSize?: unknown; _parent?: { writeQueueSize?: unknown; bytesWritten?: unknown } } })._handle;
  const tcp = tlsHandle?._parent;
  if (typeof tlsHandle?.writeQueueSize !== 'number' || typeof tcp?.writeQueueSize !== 'number' || typeof tcp.bytesWritten !== 'number') return undefined;
  return { tls: tlsHandle as TlsHandles['tls'], tcp: tcp as TlsHandles['tcp'] };
}

/**
 * Right after a write: is every encrypted byte in the kernel? True when libuv queues nothing and this write put
 * on the TCP handle at least as many bytes as TLS holds unconfirmed (those include the ones just written: TLS
 * confirms them a tick later, and only then runs the write's callback). Reporting here rather than in that
 * callback narrows the window in which a kill -9 repeats a piece from an event-loop turn (other readers' I/O runs
 * in it) to microseconds. When TLS held bytes back (an earlier write of its own unconfirmed) or the socket is gone
 * (nothing was written), this is false.
 */
function recordInKernel(h: TlsHandles, sentBefore: number): boolean {
  const sent = h.tcp.bytesWritten - sentBefore;
  return sent > 0 && h.tcp.writeQueueSize === 0 && sent >= h.tls.writeQueueSize;
}

/** The socket's file descriptor (libuv exposes it on the handle on Unix), or undefined where it is not available. */
function socketFd(s: net.Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Under backpressure the next write offers whole messages only, about as many bytes as the kernel took last time
 * (at least 16 KiB): the messages whole in the kernel once it takes the offer, whose cursor state the sender
 * serializes first (`beforeWrite`), so that when the kernel takes it whole only the journal write is left between
 * the write and the commit, the window in which a kill -9 repeats what the kernel holds. When not even the next
 * message fits, the rest of the batch is offered.
 */
function nextOffer(ends: readonly number[], reported: number, written: number, lastTaken: number): number {
  const want = written + Math.max(lastTaken, 16 * 1024);
  let k = reported;
  while (k < ends.length && ends[k]! <= want) k++;
  return k === reported ? ends.length : k;
}

/**
 * The reason a connection failed, with the fix where it is ours to name: the receiver's TLS alerts about our client
 * certificate (OpenSSL's codes, e.g. ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED) point at shipper.tls-cert/-key.
 */
function describeConnectError(err: Error, overTls: boolean): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (overTls && /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)/.test(code)) {
    return `${code}: the receiver refused our client certificate (none, expired, or not signed by a CA it trusts); set shipper.tls-cert and shipper.tls-key to one it accepts`;
  }
  return code || err.message;
}
