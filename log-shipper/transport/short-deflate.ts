/**
 * Deflate (RFC 1951) for short inputs, with fixed Huffman codes, wrapped as gzip (RFC 1952) or zlib (RFC 1950).
 *
 * Why: zlib spends ≈ 7 µs of fixed cost on every message, whatever its size (measured with perf: half of it in
 * building the dynamic Huffman trees it then compares with the fixed ones, 8% in clearing its 64 KiB hash table),
 * so a UDP shipper compressing 700-byte GELF messages one by one was bound by zlib's set-up, not by compressing.
 * Fixed codes need no trees; a hash table tagged with a running base needs no clearing. The output is larger
 * than zlib's level 1 on the same message (390 instead of 323 bytes for a 708-byte GELF message), so it is
 * used only below SHORT_INPUT_LIMIT; longer messages go to zlib, whose set-up is then a small part.
 */

import { crc32 } from 'node:zlib';

export const SHORT_INPUT_LIMIT = 8192;

const HASH_BITS = 12;
const HASH_SIZE = 1 << HASH_BITS;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const MAX_DISTANCE = 32768;

/** Reversed fixed literal/length codes (Huffman codes go out most significant bit first). */
const LIT_CODE = new Uint16Array(288);
const LIT_BITS = new Uint8Array(288);
/** Length 3..258 → symbol (257..285), extra bits, base length. */
const LEN_SYMBOL = new Uint16Array(MAX_MATCH + 1);
const LEN_EXTRA = new Uint8Array(MAX_MATCH + 1);
const LEN_BASE = new Uint16Array(MAX_MATCH + 1);
/** Distance code 0..29: base distance and extra bits; fixed distance codes are 5 bits, reversed. */
const DIST_BASE = new Uint16Array(30);
const DIST_EXTRA = new Uint8Array(30);
const DIST_CODE_REV = new Uint8Array(30);

function reverseBits(code: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) { r = (r << 1) | (code & 1); code >>>= 1; }
  return r;
}

(function buildTables() {
  for (let s = 0; s < 288; s++) {
    let code: number;
    let bits: number;
    if (s < 144) { code = 0x30 + s; bits = 8; }
    else if (s < 256) { code = 0x190 + (s - 144); bits = 9; }
    else if (s < 280) { code = s - 256; bits = 7; }
    else { code = 0xc0 + (s - 280); bits = 8; }
    LIT_CODE[s] = reverseBits(code, bits);
    LIT_BITS[s] = bits;
  }
  const lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  for (let i = 0; i < lengthBase.length; i++) {
    const end = i + 1 < lengthBase.length ? lengthBase[i + 1]! : MAX_MATCH + 1;
    for (let len = lengthBase[i]!; len < end && len <= MAX_MATCH; len++) {
      LEN_SYMBOL[len] = 257 + i;
      LEN_EXTRA[len] = lengthExtra[i]!;
      LEN_BASE[len] = lengthBase[i]!;
    }
  }
  // 258 has its own symbol (285) with no extra bits, although 227 + 31 would reach it.
  LEN_SYMBOL[258] = 285; LEN_EXTRA[258] = 0; LEN_BASE[258] = 258;
  let base = 1;
  for (let c = 0; c < 30; c++) {
    const extra = c < 4 ? 0 : (c >> 1) - 1;
    DIST_BASE[c] = base;
    DIST_EXTRA[c] = extra;
    DIST_CODE_REV[c] = reverseBits(c, 5);
    base += 1 << extra;
  }
})();

function distanceCode(d: number): number {
  // The largest code whose base is ≤ d; 30 entries, so a short scan from an estimate.
  let c = d <= 4 ? d - 1 : 2 * (31 - Math.clz32(d - 1)) - 2;
  while (c < 29 && DIST_BASE[c + 1]! <= d) c++;
  while (DIST_BASE[c]! > d) c--;
  return c;
}

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  const n = data.length;
  for (let i = 0; i < n;) {
    // 5552 bytes keep b below 2^32 before the modulo (zlib's NMAX).
    const end = Math.min(n, i + 5552);
    for (; i < end; i++) { a += data[i]!; b += a; }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * The fixed-code symbols of a message's last part, encoded once and appended to every message that ends with it.
 * A GELF message of one container ends with the same ≈ 500 bytes (its `_container_*`, `_image_*`, Swarm fields):
 * matching them again for every line was most of the deflate time. Their matches point only inside themselves,
 * so the symbols are valid wherever the part starts.
 */
export interface EncodedTail {
  /** Length in input bytes. */
  readonly length: number;
  readonly bits: Uint8Array;
  readonly bitLength: number;
}

/** Largest output of ShortDeflate for `n` input bytes: fixed codes take at most 9 bits per literal, plus headers and trailer. */
export function fixedCodeBound(n: number): number {
  return n + (n >>> 3) + 64;
}

/**
 * One reusable encoder (not thread-safe; one per thread). `encode` returns a view of its own buffer, valid until
 * the next call. The bit writer lives in locals: through object fields it cost ≈ 2× here.
 */
export class ShortDeflate {
  private tailEncoder?: ShortDeflate;

  /** Position + base of the last occurrence of each 3-byte hash; entries below `base` are from older inputs. */
  private readonly head = new Int32Array(HASH_SIZE);
  private base = 1;
  private out = new Uint8Array(SHORT_INPUT_LIMIT * 2 + 64);

  constructor(readonly wrapper: 'gzip' | 'zlib' | 'raw') {}

  /** Encodes `tail` on its own (no header, no end of block) for `encode`'s `tail` argument. */
  encodeTail(tail: Uint8Array): EncodedTail {
    this.tailEncoder ??= new ShortDeflate('raw');
    const bits = this.tailEncoder.encode(tail);
    return { length: tail.length, bits: bits.slice(), bitLength: this.tailEncoder.rawBitLength };
  }

  private rawBitLength = 0;

  /**
   * Compresses `input`; when `tail` is given, the input ends with the bytes it was encoded from (the caller
   * vouches for that) and its symbols are copied instead of searched for again.
   */
  encode(input: Uint8Array, tail?: EncodedTail): Uint8Array {
    const n = input.length;
    const end = tail ? n - tail.length : n;
    const bound = fixedCodeBound(n);
    if (this.out.length < bound) this.out = new Uint8Array(bound * 2);
    if (this.base + n + 1 > 0x3fffffff) { this.head.fill(0); this.base = 1; }
    const out = this.out;
    let pos: number;
    let bitBuf = 3; // BFINAL = 1, BTYPE = 01 (fixed Huffman)
    let bitCount = 3;
    if (this.wrapper === 'raw') {
      pos = 0; bitBuf = 0; bitCount = 0;
    } else if (this.wrapper === 'gzip') {
      // Magic, deflate, no flags, no mtime, XFL 4 (fastest), OS 3 (Unix): as zlib writes at level 1.
      out[0] = 0x1f; out[1] = 0x8b; out[2] = 8; out[3] = 0; out[4] = 0; out[5] = 0; out[6] = 0; out[7] = 0; out[8] = 4; out[9] = 3;
      pos = 10;
    } else {
      out[0] = 0x78; out[1] = 0x01;
      pos = 2;
    }
    const head = this.head;
    const base = this.base;
    let i = 0;
    while (i < end) {
      let matchLen = 0;
      let dist = 0;
      if (i + MIN_MATCH <= end) {
        const h = Math.imul((input[i]! << 16) | (input[i + 1]! << 8) | input[i + 2]!, 0x9e3779b1) >>> (32 - HASH_BITS);
        const candidate = head[h]! - base;
        head[h] = i + base;
        if (candidate >= 0 && i - candidate <= MAX_DISTANCE && input[candidate] === input[i] && input[candidate + 1] === input[i + 1] && input[candidate + 2] === input[i + 2]) {
          const limit = Math.min(MAX_MATCH, end - i);
          let len = 3;
          while (len < limit && input[candidate + len] === input[i + len]) len++;
          matchLen = len;
          dist = i - candidate;
        }
      }
      if (matchLen === 0) {
        const lit = input[i++]!;
        bitBuf |= LIT_CODE[lit]! << bitCount;
        bitCount += LIT_BITS[lit]!;
      } else {
        const sym = LEN_SYMBOL[matchLen]!;
        bitBuf |= LIT_CODE[sym]! << bitCount;
        bitCount += LIT_BITS[sym]!;
        const lenExtra = LEN_EXTRA[matchLen]!;
        if (lenExtra) { bitBuf |= (matchLen - LEN_BASE[matchLen]!) << bitCount; bitCount += lenExtra; }
        // At most 9 + 5 bits above 7 pending: 21 < 32. Flush before the distance (5 + up to 13 bits).
        while (bitCount >= 8) { out[pos++] = bitBuf & 0xff; bitBuf >>>= 8; bitCount -= 8; }
        const dc = distanceCode(dist);
        bitBuf |= DIST_CODE_REV[dc]! << bitCount;
        bitCount += 5;
        const distExtra = DIST_EXTRA[dc]!;
        if (distExtra) { bitBuf |= (dist - DIST_BASE[dc]!) << bitCount; bitCount += distExtra; }
        // zlib's level 1 indexes a match's inner positions only for short matches (max_insert_length 4): the same.
        const matchEnd = i + matchLen;
        if (matchLen <= 4) {
          for (let j = i + 1; j + MIN_MATCH <= end && j < matchEnd; j++) {
            head[Math.imul((input[j]! << 16) | (input[j + 1]! << 8) | input[j + 2]!, 0x9e3779b1) >>> (32 - HASH_BITS)] = j + base;
          }
        }
        i = matchEnd;
      }
      while (bitCount >= 8) { out[pos++] = bitBuf & 0xff; bitBuf >>>= 8; bitCount -= 8; }
    }
    if (tail) {
      // With fewer than 8 bits pending, each whole byte of the tail's symbols pushes out exactly one byte.
      const bits = tail.bits;
      const whole = tail.bitLength >>> 3;
      for (let k = 0; k < whole; k++) {
        bitBuf |= bits[k]! << bitCount;
        out[pos++] = bitBuf & 0xff;
        bitBuf >>>= 8;
      }
      const rest = tail.bitLength & 7;
      if (rest) { bitBuf |= (bits[whole]! & ((1 << rest) - 1)) << bitCount; bitCount += rest; }
      while (bitCount >= 8) { out[pos++] = bitBuf & 0xff; bitBuf >>>= 8; bitCount -= 8; }
    }
    if (this.wrapper === 'raw') {
      this.rawBitLength = pos * 8 + bitCount;
      if (bitCount > 0) out[pos++] = bitBuf & 0xff;
      this.base = base + n + 1;
      return out.subarray(0, pos);
    }
    // End of block: symbol 256, seven zero bits; then pad to a byte.
    bitCount += 7;
    while (bitCount > 0) { out[pos++] = bitBuf & 0xff; bitBuf >>>= 8; bitCount -= 8; }
    this.base = base + n + 1;
    if (this.wrapper === 'gzip') {
      const crc = crc32(input);
      out[pos++] = crc & 0xff; out[pos++] = (crc >>> 8) & 0xff; out[pos++] = (crc >>> 16) & 0xff; out[pos++] = crc >>> 24;
      out[pos++] = n & 0xff; out[pos++] = (n >>> 8) & 0xff; out[pos++] = (n >>> 16) & 0xff; out[pos++] = (n >>> 24) & 0xff;
    } else {
      const a = adler32(input);
      out[pos++] = a >>> 24; out[pos++] = (a >>> 16) & 0xff; out[pos++] = (a >>> 8) & 0xff; out[pos++] = a & 0xff;
    }
    return out.subarray(0, pos);
  }
}
