import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress, Compressor } from '../../log-shipper/transport/chunking.js';

describe('Compressor (one zlib context reused per message)', () => {
  const inputs = [
    Buffer.from('{"version":"1.1","short_message":"a"}'),
    Buffer.alloc(0),
    Buffer.from(JSON.stringify({ version: '1.1', short_message: 'x'.repeat(20_000), _n: 'ünïcödé' })),
    randomBytes(300_000), // incompressible, larger than the initial output buffer
    Buffer.from('{"short_message":"after the big one"}'),
  ];
  for (const kind of ['gzip', 'zlib'] as const) {
    it(`${kind}: every output is independent and identical to the public function's`, () => {
      const c = new Compressor(kind, 1);
      for (let round = 0; round < 3; round++) {
        const outs = inputs.map((i) => c.compress(i));
        outs.forEach((o, n) => {
          expect(o.equals(compress(inputs[n]!, kind, 1)), `input ${n}`).toBe(true);
          expect((kind === 'gzip' ? zlib.gunzipSync(o) : zlib.inflateSync(o)).equals(inputs[n]!)).toBe(true);
        });
      }
      c.close();
      // After close it still works (public functions).
      expect(zlib.gunzipSync(new Compressor('gzip', 1).compress(inputs[0]!)).equals(inputs[0]!)).toBe(true);
      expect(c.compress(inputs[0]!).length).toBeGreaterThan(0);
    });
  }

  it('returns a fresh buffer each call (safe for asynchronous sends)', () => {
    const c = new Compressor('gzip', 1);
    const a = c.compress(inputs[0]!);
    const copy = Buffer.from(a);
    c.compress(inputs[2]!);
    expect(a.equals(copy)).toBe(true);
  });

  it('none passes the payload through', () => {
    expect(new Compressor('none', 1).compress(inputs[0]!)).toBe(inputs[0]);
  });
});
