import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import type { Compression } from '../settings.js';
import { fixedCodeBound, SHORT_INPUT_LIMIT, ShortDeflate, type EncodedTail } from './short-deflate.js';

export const CHUNK_HEADER_BYTES = 12;
export const MAX_CHUNKS = 128;
const MAX_TAILS = 4096;

export function compress(payload: Buffer, kind: Compression, level: number): Buffer {
  if (kind === 'gzip') return zlib.gzipSync(payload, { level });
  if (kind === 'zlib') return zlib.deflateSync(payload, { level });
  return payload;
}

/**
 * Largest gzip or zlib output for `bytes` of input, whichever encoder compresses it: ShortDeflate's fixed codes
 * take up to 9 bits per byte (n + n/8 + 64), above zlib's deflateBound plus header and trailer. With zlib's bound
 * alone a short incompressible message passed the 128-chunk pre-check, failed in the send thread, and its batch
 * was retried for ever. ≥ `bytes` for none.
 */
export function compressedBound(bytes: number): number {
  return fixedCodeBound(bytes);
}

/** The parts of a Node zlib stream that its own `*Sync` functions use (lib/zlib.js processChunkSync). */
interface ZlibHandle {
  reset(): void;
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
}

/**
 * Compresses one message at a time: below 8 KiB at level 1 with ShortDeflate, otherwise with one zlib context
 * reset between messages instead of a new context per message (`zlib.gzipSync` builds a stream object and
 * allocates and frees ≈300 KB of zlib state on every call: that was most of the CPU of a UDP gzip shipper). Each
 * output is a complete, independent gzip member or zlib stream; zlib's are byte for byte what
 * `gzipSync`/`deflateSync` give. Node has no public API for resetting a context between synchronous calls, so
 * this drives the stream's handle the way `processChunkSync` does; when those internals are missing (another
 * Node version) or a result does not check out, it uses the public functions.
 */
export class Compressor {
  private handle?: ZlibHandle;
  private state?: Uint32Array;
  private out = Buffer.allocUnsafe(64 * 1024);
  private readonly stream?: zlib.Gzip | zlib.Deflate;
  /** Level 1 ("fastest", the default) and under 8 KiB: fixed-code deflate, ≈ 2× zlib's speed there (short-deflate.ts). */
  private readonly short?: ShortDeflate;

  constructor(readonly kind: Compression, readonly level: number) {
    if (kind === 'none') return;
    if (level === 1) this.short = new ShortDeflate(kind);
    this.stream = kind === 'gzip' ? zlib.createGzip({ level }) : zlib.createDeflate({ level });
    const internals = this.stream as unknown as { _handle?: Partial<ZlibHandle>; _writeState?: Uint32Array };
    const h = internals._handle;
    if (h && typeof h.reset === 'function' && typeof h.writeSync === 'function' && internals._writeState instanceof Uint32Array) {
      this.handle = h as ZlibHandle;
      this.state = internals._writeState;
      // Self-check once: the reused context must give exactly what the public function gives.
      const probe = Buffer.from('{"version":"1.1","short_message":"swarmwatch compressor self-check"}');
      const reused = this.compressWithZlib(probe);
      if (!reused.equals(compress(probe, kind, level))) this.disable();
    }
  }

  private disable(): void {
    this.handle = undefined;
    this.state = undefined;
    this.stream?.close();
  }

  /**
   * A new buffer (never shared with a later call), safe to hand to an asynchronous send. `tailId`/`tailBytes`:
   * the payload ends with the tail of that id (OutMessage), whose symbols are then encoded once, not per message.
   */
  compress(payload: Buffer, tailId = 0, tailBytes = 0): Buffer {
    if (this.short && payload.length < SHORT_INPUT_LIMIT) return Buffer.from(this.short.encode(payload, this.tailFor(this.short, payload, tailId, tailBytes)));
    return this.compressWithZlib(payload);
  }

  private readonly tails = new Map<number, { source: Buffer; encoded: EncodedTail }>();

  /** The encoded tail, checked against the payload's last bytes (≈ 50 ns) so a stale id can never corrupt output. */
  private tailFor(short: ShortDeflate, payload: Buffer, id: number, bytes: number): EncodedTail | undefined {
    if (id === 0 || bytes <= 0 || bytes > payload.length) return undefined;
    const source = payload.subarray(payload.length - bytes);
    const known = this.tails.get(id);
    if (known && known.source.equals(source)) return known.encoded;
    // One entry per container encoder; a node rarely has more, and a full cache is simply rebuilt.
    if (this.tails.size >= MAX_TAILS) this.tails.clear();
    const encoded = short.encodeTail(source);
    this.tails.set(id, { source: Buffer.from(source), encoded });
    return encoded;
  }

  private compressWithZlib(payload: Buffer): Buffer {
    const h = this.handle;
    const st = this.state;
    if (!h || !st) return compress(payload, this.kind, this.level);
    const bound = compressedBound(payload.length);
    if (this.out.length < bound) this.out = Buffer.allocUnsafe(Math.max(bound, this.out.length * 2));
    const out = this.out;
    try {
      h.reset();
      h.writeSync(zlib.constants.Z_FINISH, payload, 0, payload.length, out, 0, out.length);
    } catch {
      this.disable();
      return compress(payload, this.kind, this.level);
    }
    const availOut = st[0]!;
    const availIn = st[1]!;
    // Not finished (cannot happen with the bound above): the public function, which loops.
    if (availIn !== 0 || availOut === 0) return compress(payload, this.kind, this.level);
    return Buffer.from(out.subarray(0, out.length - availOut));
  }

  close(): void {
    this.disable();
  }
}

/**
 * GELF UDP chunking: magic 0x1e 0x0f, 8-byte message id, sequence number, sequence count, then data.
 * A payload that fits one datagram is sent unchunked (receivers detect compression by its magic bytes).
 * Returns undefined when more than 128 chunks would be needed: the caller truncates the message and retries.
 */
export function chunkDatagrams(payload: Buffer, datagramSize: number): Buffer[] | undefined {
  if (payload.length <= datagramSize) return [payload];
  const dataSize = datagramSize - CHUNK_HEADER_BYTES;
  const count = Math.ceil(payload.length / dataSize);
  if (count > MAX_CHUNKS) return undefined;
  const id = randomBytes(8);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const data = payload.subarray(i * dataSize, Math.min(payload.length, (i + 1) * dataSize));
    const d = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + data.length);
    d[0] = 0x1e;
    d[1] = 0x0f;
    id.copy(d, 2);
    d[10] = i;
    d[11] = count;
    data.copy(d, CHUNK_HEADER_BYTES);
    out.push(d);
  }
  return out;
}

/** Largest payload (after compression) that fits in 128 chunks. */
export function maxPayload(datagramSize: number): number {
  return MAX_CHUNKS * (datagramSize - CHUNK_HEADER_BYTES);
}
