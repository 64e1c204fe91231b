import { describe, expect, it } from 'vitest';
import { MultiplexedDecoder, parseEntry, RawLineDecoder, type StreamName } from '../../log-shipper/frames.js';
import { compareTime, formatUnixNano, parseEngineTime } from '../../log-shipper/timestamp.js';

function frame(type: number, text: string): Buffer {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

describe('engine timestamps', () => {
  it('keeps all nine fraction digits, including trimmed trailing zeros and missing fractions', () => {
    expect(parseEngineTime('2024-03-01T10:00:00.123456789Z')).toEqual({ sec: 1709287200, nsec: 123456789 });
    expect(parseEngineTime('2024-03-01T10:00:00.1Z')).toEqual({ sec: 1709287200, nsec: 100000000 });
    expect(parseEngineTime('2024-03-01T10:00:00Z')).toEqual({ sec: 1709287200, nsec: 0 });
    expect(parseEngineTime('2024-03-01T11:00:00.5+01:00')).toEqual({ sec: 1709287200, nsec: 500000000 });
    expect(parseEngineTime('not a time')).toBeUndefined();
    // The per-second cache must not leak into another second or date.
    expect(parseEngineTime('2024-03-01T10:00:01.25Z')).toEqual({ sec: 1709287201, nsec: 250000000 });
    expect(parseEngineTime('2024-03-01T10:00:01.000000001Z')).toEqual({ sec: 1709287201, nsec: 1 });
    expect(parseEngineTime('2024-03-02T10:00:01.5Z')).toEqual({ sec: 1709287201 + 86400, nsec: 500000000 });
    expect(parseEngineTime('2024-03-01T10:00:01.5Z')).toEqual({ sec: 1709287201, nsec: 500000000 });
    expect(formatUnixNano({ sec: 1709287200, nsec: 1234 })).toBe('1709287200.000001234');
    expect(compareTime({ sec: 1, nsec: 2 }, { sec: 1, nsec: 3 })).toBeLessThan(0);
  });
});

describe('MultiplexedDecoder', () => {
  it('splits frames that straddle chunks, byte by byte', () => {
    const wire = Buffer.concat([frame(1, '2024-03-01T10:00:00.000000001Z hello\n'), frame(2, '2024-03-01T10:00:00.000000002Z oops\n'), frame(1, '2024-03-01T10:00:00.000000003Z part')]);
    const got: [StreamName, string][] = [];
    const d = new MultiplexedDecoder((s, p) => got.push([s, p.toString()]));
    for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1));
    expect(got.map((g) => g[0])).toEqual(['stdout', 'stderr', 'stdout']);
    const entries = got.map(([s, p]) => parseEntry(s, Buffer.from(p))!);
    expect(entries.map((e) => [e.text.toString(), e.partial])).toEqual([['hello', false], ['oops', false], ['part', true]]);
    expect(d.leftover).toBe(0);
  });

  it('reports an incomplete trailing frame as leftover', () => {
    const d = new MultiplexedDecoder(() => undefined);
    d.push(frame(1, '2024-03-01T10:00:00Z abc\n').subarray(0, 12));
    expect(d.leftover).toBe(12);
  });

  it('carries invalid UTF-8 as bytes (decoded later with replacement characters)', () => {
    const body = Buffer.concat([Buffer.from('2024-03-01T10:00:00Z '), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\n')]);
    const e = parseEntry('stdout', body)!;
    expect(e.text).toEqual(Buffer.from([0xff, 0xfe, 0x41]));
    expect(e.text.toString('utf8')).toBe('\ufffd\ufffdA');
  });
});

describe('RawLineDecoder (TTY containers)', () => {
  it('splits on newlines across chunks and keeps carriage returns', () => {
    const got: string[] = [];
    const d = new RawLineDecoder((_s, p) => got.push(p.toString()));
    d.push(Buffer.from('2024-03-01T10:00:00Z a\r\n2024-03-01T10:00:00Z b'));
    d.push(Buffer.from('c\r\n2024-03-01T10:00:01Z tail'));
    d.flush();
    expect(got).toEqual(['2024-03-01T10:00:00Z a\r\n', '2024-03-01T10:00:00Z bc\r\n', '2024-03-01T10:00:01Z tail']);
    expect(parseEntry('stdout', Buffer.from(got[1]!))!.text.toString()).toBe('bc\r');
  });
});
