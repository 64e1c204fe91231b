import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import type { Compression } from '../settings.js';

export const CHUNK_HEADER_BYTES = 12;
export const MAX_CHUNKS = 128;

export function compress(payload: Buffer, kind: Compression, level: number): Buffer {
  if (kind === 'gzip') return zlib.gzipSync(payload, { level });
  if (kind === 'zlib') return zlib.deflateSync(payload, { level });
  return payload;
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
