import { parseEngineTimeAt, type EngineTime } from './timestamp.js';

export type StreamName = 'stdout' | 'stderr';

/** One log entry as the engine stored it: one line, or one ≤16 KiB piece of a longer line (`partial`). */
export interface LogFrame {
  stream: StreamName;
  time: EngineTime;
  /** The text without the timestamp prefix and without the final newline. */
  text: Buffer;
  /** True when the engine split a longer line here (the entry has no trailing newline). */
  partial: boolean;
}

/**
 * Splits the multiplexed logs stream of a non-TTY container (8-byte header: stream type, 3 zero bytes, uint32 BE
 * size) into frames. Kept as a small state machine over chunks: a frame may straddle any number of chunks.
 */
export class MultiplexedDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly onFrame: (stream: StreamName, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < 8) return;
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let off = 0;
    while (buf.length - off >= 8) {
      const size = buf.readUInt32BE(off + 4);
      if (buf.length - off - 8 < size) break;
      const type = buf[off]!;
      // stdin (0) never carries log output; anything but stderr is treated as stdout, as the engine does for TTYs.
      this.onFrame(type === 2 ? 'stderr' : 'stdout', buf.subarray(off + 8, off + 8 + size));
      off += 8 + size;
    }
    buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
    this.pending = buf.length ? [buf] : [];
    this.pendingBytes = buf.length;
  }

  /** Bytes of an incomplete frame left when the stream ended. */
  get leftover(): number {
    return this.pendingBytes;
  }
}

/**
 * The engine's log copier cuts a line after this many bytes without a newline (moby daemon/logger/copier.go,
 * json-file and every driver without its own buffer size); every piece shares the first one's timestamp.
 */
export const ENGINE_PIECE_BYTES = 16 * 1024;
/** "2006-01-02T15:04:05.000000000Z ": the logs API writes timestamps fixed-width and in UTC (RFC3339NanoFixed). */
const STAMP_BYTES = 31;
/**
 * json-file stores each invalid UTF-8 byte of a piece as U+FFFD (3 bytes), the split of a multibyte character
 * included, and the API replays that: a piece's text is 16,384 bytes plus 2 per replaced byte.
 */
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/** pieceEnd's answers besides an offset. */
const NO_PIECE = -1;
const NEED_MORE = -2;
const STAMP_SHAPE = 'dddd-dd-ddTdd:dd:dd.dddddddddZ ';
/**
 * A TTY container's logs come as one raw byte stream: every entry is "<timestamp> <text>\n". A piece the engine
 * cut from a longer line has no newline, so the next entry's timestamp follows its text directly. Such a boundary
 * is recognized where it can only be the engine's: a fixed-width timestamp and a space right after exactly a
 * piece's worth of text with no newline in it (a line's own text never reaches that offset uncut). Pieces are
 * emitted as entries of their own, as for non-TTY containers, so the tracker counts what the engine counts and the
 * assembler rejoins them.
 */
export class RawLineDecoder {
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: StreamName, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const rest = this.emitEntries(buf, false);
    this.carry = rest < buf.length ? Buffer.from(buf.subarray(rest)) : Buffer.alloc(0);
  }

  /** The stream ended: entries still held are emitted, an unterminated last one as it is. */
  flush(): void {
    const rest = this.emitEntries(this.carry, true);
    if (rest < this.carry.length) this.onFrame('stdout', this.carry.subarray(rest));
    this.carry = Buffer.alloc(0);
  }

  get leftover(): number {
    return this.carry.length;
  }

  /** Emits every entry of buf whose end is known; returns where the rest begins. */
  private emitEntries(buf: Buffer, ended: boolean): number {
    let start = 0;
    for (let end = rawEntryEnd(buf, start, ended); end !== undefined; end = rawEntryEnd(buf, start, ended)) {
      this.onFrame('stdout', buf.subarray(start, end));
      start = end;
    }
    return start;
  }
}

/** End of the raw entry at `start` (after its newline, or where the engine's next piece begins); undefined: not known yet. */
function rawEntryEnd(buf: Buffer, start: number, ended: boolean): number | undefined {
  if (start >= buf.length) return undefined;
  const nl = buf.indexOf(10, start);
  // Hot path: too short to hold a whole piece, so the newline ends it.
  if (nl !== -1 && nl - start <= ENGINE_PIECE_BYTES + 1) return nl + 1;
  const sp = buf.indexOf(32, start);
  const stamped = sp > start && sp - start <= 40;
  const end = stamped ? pieceEnd(buf, sp + 1, nl === -1 ? buf.length : nl, ended) : NO_PIECE;
  if (end >= 0) return end;
  if (end === NEED_MORE) return undefined;
  return nl === -1 ? undefined : nl + 1;
}

/**
 * Where the piece whose text begins at `text` ends, if the engine cut it: at 16,384 bytes plus two per U+FFFD
 * before that offset, immediately followed by a timestamp. `limit` is the first newline (or the end of buf).
 */
function pieceEnd(buf: Buffer, text: number, limit: number, ended: boolean): number {
  let replaced = 0;
  let nextReplacement = buf.indexOf(REPLACEMENT, text);
  for (let at = text + ENGINE_PIECE_BYTES; ; at += 2) {
    while (nextReplacement !== -1 && nextReplacement + REPLACEMENT.length <= at) {
      replaced++;
      nextReplacement = buf.indexOf(REPLACEMENT, nextReplacement + REPLACEMENT.length);
    }
    if (at - text - ENGINE_PIECE_BYTES > 2 * replaced) return NO_PIECE;
    if (at + STAMP_BYTES > limit) return limit === buf.length && !ended ? NEED_MORE : NO_PIECE;
    if (isFixedStampAt(buf, at)) return at;
  }
}

/** "dddd-dd-ddTdd:dd:dd.dddddddddZ " at `at`. */
function isFixedStampAt(buf: Buffer, at: number): boolean {
  for (let i = 0; i < STAMP_BYTES; i++) {
    const c = buf[at + i]!;
    const want = STAMP_SHAPE.charCodeAt(i);
    if (want === 100 /* d */ ? c < 48 || c > 57 : c !== want) return false;
  }
  return true;
}

/** Splits "<RFC3339Nano> <text>[\n]" into a frame; undefined when the prefix is not a timestamp. */
export function parseEntry(stream: StreamName, payload: Buffer): LogFrame | undefined {
  const sp = payload.indexOf(32);
  if (sp <= 0 || sp > 40) return undefined;
  const time = parseEngineTimeAt(payload, 0, sp);
  if (!time) return undefined;
  const hasNewline = payload.length > sp + 1 && payload[payload.length - 1] === 10;
  const text = payload.subarray(sp + 1, hasNewline ? payload.length - 1 : payload.length);
  return { stream, time, text, partial: !hasNewline };
}
