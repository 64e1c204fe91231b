import { parseEngineTime, type EngineTime } from './timestamp.js';

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
 * A TTY container's logs come as one raw byte stream: every entry is "<timestamp> <text>\n". An entry the engine
 * split at 16 KiB has no newline, so the next timestamp follows the text directly; we cannot tell it apart from
 * text, which is why TTY lines longer than 16 KiB keep the engine's split (documented limitation).
 */
export class RawLineDecoder {
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: StreamName, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      this.onFrame('stdout', buf.subarray(start, nl + 1));
      start = nl + 1;
    }
    this.carry = start < buf.length ? Buffer.from(buf.subarray(start)) : Buffer.alloc(0);
  }

  /** An unterminated last entry (stream ended mid-line). */
  flush(): void {
    if (this.carry.length) this.onFrame('stdout', this.carry);
    this.carry = Buffer.alloc(0);
  }

  get leftover(): number {
    return this.carry.length;
  }
}

/** Splits "<RFC3339Nano> <text>[\n]" into a frame; undefined when the prefix is not a timestamp. */
export function parseEntry(stream: StreamName, payload: Buffer): LogFrame | undefined {
  const sp = payload.indexOf(32);
  if (sp <= 0 || sp > 40) return undefined;
  const time = parseEngineTime(payload.toString('latin1', 0, sp));
  if (!time) return undefined;
  const hasNewline = payload.length > sp + 1 && payload[payload.length - 1] === 10;
  const text = payload.subarray(sp + 1, hasNewline ? payload.length - 1 : payload.length);
  return { stream, time, text, partial: !hasNewline };
}
