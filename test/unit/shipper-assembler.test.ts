import { describe, expect, it } from 'vitest';
import { cutUtf8, RecordAssembler, ZERO_CURSOR, type LogRecord } from '../../log-shipper/assembler.js';
import type { Cursor } from '../../log-shipper/cursor.js';
import type { LogFrame, StreamName } from '../../log-shipper/frames.js';

const pos = (n: number): Cursor => ({ time: { sec: 100, nsec: 0 }, count: n });
function feed(a: RecordAssembler, frames: [StreamName, string, boolean][]): void {
  frames.forEach(([stream, text, partial], i) => {
    const f: LogFrame = { stream, time: { sec: 100, nsec: 0 }, text: Buffer.from(text), partial };
    a.push(f, pos(i + 1), i === 0 ? ZERO_CURSOR : pos(i));
  });
}

describe('RecordAssembler', () => {
  it('rejoins 16 KiB pieces into the line the container printed', () => {
    const out: LogRecord[] = [];
    const a = new RecordAssembler({ maxBytes: 1 << 20, multilineTimeoutMs: 100, emit: (r) => out.push(r) });
    const line = 'x'.repeat(16384) + 'y'.repeat(16384) + 'z'.repeat(100);
    feed(a, [['stdout', line.slice(0, 16384), true], ['stdout', line.slice(16384, 32768), true], ['stdout', line.slice(32768), false]]);
    expect(out).toHaveLength(1);
    expect(out[0]!.lines).toEqual([line]);
    expect(out[0]!.truncatedFromBytes).toBeUndefined();
    expect(out[0]!.cursor).toEqual(pos(3));
    expect(out[0]!.frames).toBe(3);
  });

  it('truncates past maxBytes, marks the original size, and never splits a UTF-8 character', () => {
    const out: LogRecord[] = [];
    const a = new RecordAssembler({ maxBytes: 9, multilineTimeoutMs: 100, emit: (r) => out.push(r) });
    feed(a, [['stdout', 'abcdefghé', true], ['stdout', 'more', false]]);
    expect(out[0]!.lines).toEqual(['abcdefgh']);
    expect(out[0]!.truncatedFromBytes).toBe(14);
    expect(cutUtf8(Buffer.from('aé'), 2).toString()).toBe('a');
  });

  it('does not let a cursor pass a line still being rejoined on another stream', () => {
    const out: LogRecord[] = [];
    const a = new RecordAssembler({ maxBytes: 1 << 20, multilineTimeoutMs: 100, emit: (r) => out.push(r) });
    feed(a, [['stdout', 'piece', true], ['stderr', 'error line', false], ['stdout', 'end', false]]);
    expect(out.map((r) => r.lines[0])).toEqual(['error line', 'pieceend']);
    // The stderr line is delivered first, but a restart must still reread the stdout piece at position 1.
    expect(out[0]!.cursor).toEqual(ZERO_CURSOR);
    expect(out[1]!.cursor).toEqual(pos(3));
    expect(out.map((r) => r.stream)).toEqual(['stderr', 'stdout']);
  });

  it('joins multiline records on a start pattern and flushes on timeout', async () => {
    const out: LogRecord[] = [];
    const a = new RecordAssembler({ maxBytes: 1 << 20, multiline: /^\S/, multilineTimeoutMs: 20, emit: (r) => out.push(r) });
    feed(a, [['stdout', 'Exception: boom', false], ['stdout', '  at a()', false], ['stdout', '  at b()', false], ['stdout', 'next record', false]]);
    expect(out).toHaveLength(1);
    expect(out[0]!.lines).toEqual(['Exception: boom', '  at a()', '  at b()']);
    expect(out[0]!.cursor).toEqual(ZERO_CURSOR.count === 0 ? pos(3) : pos(3));
    await new Promise((r) => setTimeout(r, 60));
    expect(out).toHaveLength(2);
    expect(out[1]!.lines).toEqual(['next record']);
    a.close();
  });

  it('flush() ships an unfinished piece when the stream ends', () => {
    const out: LogRecord[] = [];
    const a = new RecordAssembler({ maxBytes: 100, multilineTimeoutMs: 100, emit: (r) => out.push(r) });
    feed(a, [['stdout', 'no newline at exit', true]]);
    expect(out).toHaveLength(0);
    a.flush();
    expect(out[0]!.lines).toEqual(['no newline at exit']);
  });
});
