import { compareTime, parseUnixNano, type EngineTime } from './timestamp.js';

/**
 * A position in one container's log: every entry older than `time` is done, plus the first `count` entries that
 * carry exactly `time`. The count matters because `since` is inclusive and many lines share one timestamp
 * (a second-granularity cursor is what makes Promtail duplicate, loki#7103).
 */
export interface Cursor {
  time: EngineTime;
  count: number;
}

export function cursorFromJson(v: unknown): Cursor | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as { ts?: unknown; n?: unknown };
  if (typeof o.ts !== 'string' || typeof o.n !== 'number' || !Number.isInteger(o.n) || o.n < 0) return undefined;
  const time = parseUnixNano(o.ts);
  return time ? { time, count: o.n } : undefined;
}

export function compareCursor(a: Cursor, b: Cursor): number {
  return compareTime(a.time, b.time) || a.count - b.count;
}

/**
 * Follows the position of entries as they are read, and drops those already done when a stream is reopened
 * with `since` = the cursor's time.
 */
export class PositionTracker {
  private last?: Cursor;
  private skipUntil?: Cursor;

  constructor(start?: Cursor) {
    this.resumeFrom(start);
  }

  /** Entries up to and including `c` are done; the next stream starts at `since` = c.time. */
  resumeFrom(c: Cursor | undefined): void {
    this.skipUntil = c && c.count > 0 ? c : undefined;
    this.last = c ? { time: c.time, count: 0 } : undefined;
  }

  /** The position after the entry with this time; `skip` when the entry was already shipped. */
  advance(time: EngineTime): { position: Cursor; skip: boolean } {
    const sameTime = this.last !== undefined && compareTime(this.last.time, time) === 0;
    const position: Cursor = { time, count: sameTime ? this.last!.count + 1 : 1 };
    this.last = position;
    let skip = false;
    if (this.skipUntil) {
      const c = compareCursor(position, this.skipUntil);
      if (c <= 0) skip = true;
      // Past the cursor's own entry, what follows in the log was written after it, even with an older time (a clock
      // stepped back): clearing only at a later time skipped those.
      if (c >= 0) this.skipUntil = undefined;
    }
    return { position, skip };
  }

  /** Where the next `since` must point (the last entry read), or undefined before anything was read. */
  get position(): Cursor | undefined {
    if (this.skipUntil && (!this.last || compareCursor(this.skipUntil, this.last) > 0)) return this.skipUntil;
    return this.last;
  }
}
