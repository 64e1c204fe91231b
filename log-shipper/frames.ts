import { compareTime, parseEngineTimeAt, type EngineTime } from './timestamp.js';

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
/**
 * "2006-01-02T15:04:05.000000000Z ": the logs API writes timestamps fixed-width (RFC3339NanoFixed), in UTC for
 * json-file, but in the daemon's time zone for drivers that keep Unix nanoseconds (`local`, journald):
 * "2006-01-02T16:04:05.000000000+01:00 " when dockerd runs with TZ=Europe/Berlin.
 */
const STAMP_BYTES = 31;
const OFFSET_STAMP_BYTES = 36;
/** Where an entry's first space may be at most: past it, the prefix is no timestamp. */
const MAX_STAMP_BYTES = 40;
/**
 * json-file stores each invalid UTF-8 byte of a piece as U+FFFD (3 bytes), the split of a multibyte character
 * included, and the API replays that: a piece's text is 16,384 bytes plus 2 per replaced byte.
 */
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/** pieceEnd's answers besides an offset. */
const NO_PIECE = -1;
const NEED_MORE = -2;
/** The part every fixed-width timestamp shares, up to its zone; then "Z " or "+dd:dd " / "-dd:dd ". */
const STAMP_HEAD = 'dddd-dd-ddTdd:dd:dd.ddddddddd';
const OFFSET_TAIL = 'dd:dd ';
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
  /** The last entry emitted was a piece the engine cut: the next one continues its line. */
  private afterPiece = false;

  /**
   * `lastPieceUnterminated`: the container logs with the `local` driver, whose logs API (engine 20.10) writes the
   * last piece of a cut line without its newline, so the next entry's timestamp follows that piece's text at any
   * offset (recorded: test/fixtures/shipper/tty-long-lines). Such a piece ends at the first fixed-width timestamp
   * in it that is not older than its own; text that prints such a timestamp in that piece is cut there too.
   */
  constructor(private readonly onFrame: (stream: StreamName, payload: Buffer) => void, private readonly lastPieceUnterminated = false) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const rest = this.emitEntries(buf, false);
    this.carry = rest < buf.length ? Buffer.from(buf.subarray(rest)) : Buffer.alloc(0);
  }

  /**
   * A `local` driver's last piece is held until the next entry says where it ends. The engine writes every entry
   * whole, so once the stream has been quiet for a moment what is held is that piece, whole: emitted as ending its
   * line (parseEntry with `localDriver`), or a long line of a container that then stays quiet waited for its next
   * line. Returns whether it did.
   */
  endQuietLastPiece(): boolean {
    if (!this.afterPiece || !this.lastPieceUnterminated || this.carry.length === 0) return false;
    const piece = this.carry;
    this.carry = Buffer.alloc(0);
    this.afterPiece = false;
    this.onFrame('stdout', piece);
    return true;
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
    for (;;) {
      let end: number | undefined;
      if (this.afterPiece && this.lastPieceUnterminated) {
        end = lastPieceEnd(buf, start, ended);
        if (end === undefined) return start;
        if (end >= 0) {
          this.onFrame('stdout', buf.subarray(start, end));
          this.afterPiece = false;
          start = end;
          continue;
        }
      }
      end = rawEntryEnd(buf, start, ended);
      if (end === undefined) return start;
      this.afterPiece = buf[end - 1] !== 10;
      this.onFrame('stdout', buf.subarray(start, end));
      start = end;
    }
  }
}

/**
 * For the `local` driver's last piece of a cut line (see RawLineDecoder): where the next entry's timestamp begins,
 * no later than a full piece and before any newline; -1 when a newline or a full piece comes first (the usual
 * rules apply), undefined when buf ends before that is known.
 */
function lastPieceEnd(buf: Buffer, start: number, ended: boolean): number | undefined {
  const sp = buf.indexOf(32, start);
  if (sp < 0) return ended ? -1 : undefined;
  if (sp - start > MAX_STAMP_BYTES) return -1;
  const own = parseEngineTimeAt(buf, start, sp);
  if (!own) return -1;
  const text = sp + 1;
  const nl = buf.indexOf(10, text);
  // A timestamp holds no newline. A last piece is 0 to 16,383 bytes (16,384 without a newline is a piece the engine
  // cut, and the next piece's timestamp right after it is pieceEnd's to find), so the next entry's timestamp starts
  // at most 16,383 bytes into the text.
  const limit = nl === -1 ? buf.length : nl;
  const canGrow = nl === -1 && !ended;
  for (let at = text; at <= text + ENGINE_PIECE_BYTES - 1; at++) {
    // Cheap filter first: "dddd-dd-ddT" has its dashes and the T at fixed places.
    if (at + STAMP_BYTES <= limit && (buf[at + 4] !== 45 || buf[at + 7] !== 45 || buf[at + 10] !== 84)) continue;
    const length = stampLengthAt(buf, at, limit, canGrow);
    if (length === NEED_MORE) return undefined;
    if (length === 0) continue;
    // Not older than this entry's own, compared as instants (a daylight-saving change moves the zone's offset).
    const next = parseEngineTimeAt(buf, at, at + length - 1);
    if (!next || compareTime(next, own) < 0) continue;
    return at;
  }
  return -1;
}

/** End of the raw entry at `start` (after its newline, or where the engine's next piece begins); undefined: not known yet. */
function rawEntryEnd(buf: Buffer, start: number, ended: boolean): number | undefined {
  if (start >= buf.length) return undefined;
  const nl = buf.indexOf(10, start);
  // Hot path: too short to hold a whole piece, so the newline ends it.
  if (nl !== -1 && nl - start <= ENGINE_PIECE_BYTES + 1) return nl + 1;
  const sp = buf.indexOf(32, start);
  const stamped = sp > start && sp - start <= MAX_STAMP_BYTES;
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
    const length = stampLengthAt(buf, at, limit, limit === buf.length && !ended);
    if (length === NEED_MORE) return NEED_MORE;
    if (length > 0) return at;
  }
}

/**
 * Length of the fixed-width timestamp and its space at `at`: STAMP_BYTES in UTC, OFFSET_STAMP_BYTES with a zone
 * offset, 0 when there is none; NEED_MORE when `limit` (the first newline or the end of buf) cuts it and `canGrow`
 * (more of the stream may still come).
 */
function stampLengthAt(buf: Buffer, at: number, limit: number, canGrow: boolean): number {
  if (at + STAMP_BYTES > limit) return canGrow ? NEED_MORE : 0;
  for (let i = 0; i < STAMP_HEAD.length; i++) if (!shapeMatches(buf[at + i]!, STAMP_HEAD.charCodeAt(i))) return 0;
  const zone = buf[at + STAMP_HEAD.length];
  if (zone === 90 /* Z */) return buf[at + STAMP_HEAD.length + 1] === 32 ? STAMP_BYTES : 0;
  if (zone !== 43 /* + */ && zone !== 45 /* - */) return 0;
  if (at + OFFSET_STAMP_BYTES > limit) return canGrow ? NEED_MORE : 0;
  const tail = at + STAMP_HEAD.length + 1;
  for (let i = 0; i < OFFSET_TAIL.length; i++) if (!shapeMatches(buf[tail + i]!, OFFSET_TAIL.charCodeAt(i))) return 0;
  return OFFSET_STAMP_BYTES;
}

function shapeMatches(c: number, want: number): boolean {
  return want === 100 /* d */ ? c >= 48 && c <= 57 : c === want;
}

/**
 * Splits "<RFC3339Nano> <text>[\n]" into a frame; undefined when the prefix is not a timestamp. `localDriver`: the
 * container logs with the `local` driver, whose logs API (engine 20.10) writes the last piece of a line the engine
 * cut without its newline, multiplexed or TTY (recorded: a 20,000-byte line came as 16,384 bytes, then 3,616
 * bytes, neither with a newline). A piece the engine cut is always 16,384 bytes there (the driver keeps the printed
 * bytes), so a shorter entry without a newline ends its line.
 */
export function parseEntry(stream: StreamName, payload: Buffer, localDriver = false): LogFrame | undefined {
  const sp = payload.indexOf(32);
  if (sp <= 0 || sp > MAX_STAMP_BYTES) return undefined;
  const time = parseEngineTimeAt(payload, 0, sp);
  if (!time) return undefined;
  const hasNewline = payload.length > sp + 1 && payload[payload.length - 1] === 10;
  const text = payload.subarray(sp + 1, hasNewline ? payload.length - 1 : payload.length);
  return { stream, time, text, partial: !hasNewline && !(localDriver && text.length < ENGINE_PIECE_BYTES) };
}
