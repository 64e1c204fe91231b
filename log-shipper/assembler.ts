import { compareCursor, type Cursor } from './cursor.js';
import type { LogFrame, StreamName } from './frames.js';
import type { EngineTime } from './timestamp.js';

/** One message to ship: a line (rejoined if the engine split it) or a multiline record. */
export interface LogRecord {
  stream: StreamName;
  time: EngineTime;
  lines: string[];
  /** Original size in bytes when the record was cut to the maximum message size. */
  truncatedFromBytes?: number;
  /** Cursor to store once this record is delivered: never past an entry that is still pending here. */
  cursor: Cursor;
  /** Engine entries (frames) this record consumed. */
  frames: number;
}

export const ZERO_CURSOR: Cursor = { time: { sec: 0, nsec: 0 }, count: 0 };

export interface AssemblerOptions {
  maxBytes: number;
  /** Start-of-record pattern; undefined ships every line as its own message. */
  multiline?: RegExp;
  multilineTimeoutMs: number;
  /**
   * The container has a TTY: its terminal ends every line with "\r\n", so the "\r" belongs to the line ending
   * (both read modes see it; the message keeps what the program printed).
   */
  tty?: boolean;
  emit(record: LogRecord): void;
}

/** Bytes of a line being put together from 16 KiB pieces, capped at maxBytes. */
interface PendingLine {
  stream: StreamName;
  time: EngineTime;
  chunks: Buffer[];
  kept: number;
  total: number;
  /** Set once a piece was cut: later pieces are only counted. */
  full: boolean;
  /** Position before the first piece: where a reread must start if this line is never completed. */
  before: Cursor;
  last: Cursor;
  frames: number;
  /** The last byte seen is "\r" (an empty final piece keeps the answer of the piece before it). */
  endsWithReturn: boolean;
}

interface PendingRecord {
  stream: StreamName;
  time: EngineTime;
  lines: string[];
  bytes: number;
  total: number;
  before: Cursor;
  last: Cursor;
  frames: number;
}

/** Cuts a buffer to at most `max` bytes without splitting a UTF-8 sequence. */
export function cutUtf8(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = max;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

/** Removes a TTY's "\r" from the end of a line; once the line was cut, it went with the cut-off part. */
function dropLineEndReturn(line: PendingLine): void {
  line.total--;
  if (line.full) return;
  let i = line.chunks.length - 1;
  while (i > 0 && line.chunks[i]!.length === 0) i--;
  line.chunks[i] = line.chunks[i]!.subarray(0, -1);
  line.kept--;
}

/**
 * Rejoins lines the engine split at 16 KiB (pieces carry no newline) and, when a pattern is set, joins the lines
 * of a multiline record. Memory per container is bounded by maxBytes per stream; the excess is counted, not kept.
 */
export class RecordAssembler {
  private readonly lines = new Map<StreamName, PendingLine>();
  private record?: PendingRecord;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: AssemblerOptions) {}

  push(frame: LogFrame, position: Cursor, before: Cursor): void {
    let line = this.lines.get(frame.stream);
    if (!line) {
      line = { stream: frame.stream, time: frame.time, chunks: [], kept: 0, total: 0, full: false, before, last: position, frames: 0, endsWithReturn: false };
      this.lines.set(frame.stream, line);
    }
    line.frames++;
    line.last = position;
    line.total += frame.text.length;
    if (frame.text.length) line.endsWithReturn = frame.text[frame.text.length - 1] === 13;
    if (!line.full) {
      const piece = cutUtf8(frame.text, this.opts.maxBytes - line.kept);
      line.chunks.push(piece);
      line.kept += piece.length;
      line.full = piece.length < frame.text.length;
    }
    if (!frame.partial) this.completeLine(line);
  }

  /**
   * Entry point for text already decoded (read-mode file): a complete short line with nothing pending is emitted
   * without the Buffer round trip; anything else takes the byte-exact path.
   */
  pushText(stream: StreamName, time: EngineTime, text: string, partial: boolean, position: Cursor, before: Cursor): void {
    if (!partial && !this.opts.multiline && this.lines.size === 0 && text.length * 3 <= this.opts.maxBytes) {
      this.opts.emit({ stream, time, lines: [this.opts.tty && text.endsWith('\r') ? text.slice(0, -1) : text], cursor: position, frames: 1 });
      return;
    }
    this.push({ stream, time, text: Buffer.from(text), partial }, position, before);
  }

  private completeLine(line: PendingLine): void {
    this.lines.delete(line.stream);
    if (this.opts.tty && line.endsWithReturn) dropLineEndReturn(line);
    const buf = line.chunks.length === 1 ? line.chunks[0]! : Buffer.concat(line.chunks, line.kept);
    const text = buf.toString('utf8');
    const truncated = line.total > line.kept ? line.total : undefined;
    if (!this.opts.multiline) {
      this.emit({ stream: line.stream, time: line.time, lines: [text], truncatedFromBytes: truncated, cursor: line.last, frames: line.frames });
      return;
    }
    const r = this.record;
    if (r && r.stream === line.stream && !this.opts.multiline.test(text) && r.bytes < this.opts.maxBytes) {
      const room = this.opts.maxBytes - r.bytes - 1;
      const kept = room >= buf.length ? text : cutUtf8(buf, Math.max(0, room)).toString('utf8');
      if (kept.length) { r.lines.push(kept); r.bytes += Buffer.byteLength(kept) + 1; }
      r.total += line.total + 1;
      r.last = line.last;
      r.frames += line.frames;
      this.armTimer();
      return;
    }
    if (r && r.stream === line.stream && !this.opts.multiline.test(text)) {
      // Record already full: count the line as cut off, keep the record open so its end stays together.
      r.total += line.total + 1;
      r.last = line.last;
      r.frames += line.frames;
      return;
    }
    this.flushRecord();
    this.record = { stream: line.stream, time: line.time, lines: [text], bytes: buf.length, total: truncated ?? buf.length, before: line.before, last: line.last, frames: line.frames };
    this.armTimer();
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flushRecord(), this.opts.multilineTimeoutMs);
    this.timer.unref();
  }

  private flushRecord(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const r = this.record;
    if (!r) return;
    this.record = undefined;
    this.emit({ stream: r.stream, time: r.time, lines: r.lines, truncatedFromBytes: r.total > r.bytes ? r.total : undefined, cursor: r.last, frames: r.frames });
  }

  /** Never lets a cursor pass an entry still waiting here: a restart rereads it instead of losing it. */
  private emit(rec: LogRecord): void {
    let cursor = rec.cursor;
    for (const l of this.lines.values()) if (compareCursor(l.before, cursor) < 0) cursor = l.before;
    if (this.record && compareCursor(this.record.before, cursor) < 0) cursor = this.record.before;
    this.opts.emit(cursor === rec.cursor ? rec : { ...rec, cursor });
  }

  /** Ships whatever is pending (the stream ended: the container stopped or the engine went away). */
  flush(): void {
    for (const l of [...this.lines.values()]) this.completeLine(l);
    this.flushRecord();
  }

  get pending(): boolean {
    return this.lines.size > 0 || this.record !== undefined;
  }

  /** Where the entries still waiting here begin (the position before the first of them), and how many they are. */
  pendingFrom(): { before: Cursor; frames: number } | undefined {
    let before: Cursor | undefined;
    let frames = 0;
    for (const l of this.lines.values()) { frames += l.frames; if (!before || compareCursor(l.before, before) < 0) before = l.before; }
    if (this.record) { frames += this.record.frames; if (!before || compareCursor(this.record.before, before) < 0) before = this.record.before; }
    return before ? { before, frames } : undefined;
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
