import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress, Compressor } from '../../log-shipper/transport/chunking.js';
import { SHORT_INPUT_LIMIT, ShortDeflate } from '../../log-shipper/transport/short-deflate.js';

describe('Compressor (one zlib context reused per message)', () => {
  const inputs = [
    Buffer.from('{"version":"1.1","short_message":"a"}'),
    Buffer.alloc(0),
    Buffer.from(JSON.stringify({ version: '1.1', short_message: 'x'.repeat(20_000), _n: 'ünïcödé' })),
    randomBytes(300_000), // incompressible, larger than the initial output buffer
    Buffer.from('{"short_message":"after the big one"}'),
  ];
  for (const kind of ['gzip', 'zlib'] as const) {
    it(`${kind}: every output is independent; zlib's (level ≠ 1, or 8 KiB and more) identical to the public function's`, () => {
      for (const level of [1, 6]) {
        const c = new Compressor(kind, level);
        for (let round = 0; round < 3; round++) {
          const outs = inputs.map((i) => c.compress(i));
          outs.forEach((o, n) => {
            if (level !== 1 || inputs[n]!.length >= SHORT_INPUT_LIMIT) expect(o.equals(compress(inputs[n]!, kind, level)), `input ${n}`).toBe(true);
            expect((kind === 'gzip' ? zlib.gunzipSync(o) : zlib.inflateSync(o)).equals(inputs[n]!)).toBe(true);
          });
        }
        c.close();
      }
      // After close it still works (public functions for the zlib part).
      const c = new Compressor(kind, 6);
      c.close();
      expect(c.compress(inputs[2]!).equals(compress(inputs[2]!, kind, 6))).toBe(true);
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

describe('ShortDeflate (fixed-code deflate for short messages)', () => {
  // Inputs that exercise every length and distance code: runs, repeats at every distance, text, random bytes.
  function inputsOf(seed: number): Buffer[] {
    const out: Buffer[] = [Buffer.alloc(0), Buffer.from('a'), Buffer.from('ab'), Buffer.from('abc'), Buffer.alloc(300, 0x61), Buffer.alloc(70_000, 0x62)];
    let x = seed;
    const rand = (n: number) => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n; };
    for (let i = 0; i < 400; i++) {
      const n = rand(SHORT_INPUT_LIMIT);
      const alphabet = [2, 5, 16, 256][i % 4]!;
      out.push(Buffer.from(Array.from({ length: n }, () => rand(alphabet) + (alphabet < 256 ? 97 : 0))));
    }
    const unit = randomBytes(1000);
    out.push(Buffer.concat(Array.from({ length: 40 }, () => unit))); // repeats 1,000 bytes apart over 40 KB (> 32 KiB window)
    out.push(randomBytes(100_000));
    return out;
  }

  for (const wrapper of ['gzip', 'zlib'] as const) {
    it(`${wrapper}: zlib decodes every output to the exact input, message after message`, () => {
      const d = new ShortDeflate(wrapper);
      for (const input of inputsOf(wrapper === 'gzip' ? 7 : 11)) {
        const encoded = Buffer.from(d.encode(input));
        const decoded = wrapper === 'gzip' ? zlib.gunzipSync(encoded) : zlib.inflateSync(encoded);
        expect(decoded.equals(input), `input of ${input.length} bytes`).toBe(true);
      }
    });
  }

  for (const wrapper of ['gzip', 'zlib'] as const) {
    it(`${wrapper}: a tail encoded once and appended at any bit position decodes to the exact input`, () => {
      const d = new ShortDeflate(wrapper);
      const inputs = inputsOf(wrapper === 'gzip' ? 13 : 17).filter((i) => i.length < SHORT_INPUT_LIMIT);
      let x = 5;
      const rand = (n: number) => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n; };
      for (const input of inputs) {
        // A tail of any length, from empty to the whole input; the head's matches must stop where it starts.
        const cut = rand(input.length + 1);
        const tail = d.encodeTail(input.subarray(cut));
        for (let round = 0; round < 2; round++) {
          const encoded = Buffer.from(d.encode(input, tail));
          const decoded = wrapper === 'gzip' ? zlib.gunzipSync(encoded) : zlib.inflateSync(encoded);
          expect(decoded.equals(input), `input of ${input.length} bytes, tail from ${cut}`).toBe(true);
        }
      }
    });
  }

  it('Compressor: one tail per id serves many messages; a payload not ending with it is compressed whole', () => {
    const c = new Compressor('gzip', 1);
    const tail = ',"_container_id":"' + 'f'.repeat(64) + '","_image_name":"nginx:1.27"}';
    const tailBytes = Buffer.byteLength(tail);
    for (let i = 0; i < 50; i++) {
      const msg = Buffer.from(`{"version":"1.1","short_message":"line ${i} ${'x'.repeat(i)}","level":6${tail}`);
      expect(zlib.gunzipSync(c.compress(msg, 7, tailBytes)).equals(msg)).toBe(true);
    }
    // The same id with other bytes at the end (a stale id) must not reuse the old symbols.
    const other = Buffer.from(`{"short_message":"other container"${tail.replace('nginx', 'redis')}`);
    expect(zlib.gunzipSync(c.compress(other, 7, tailBytes)).equals(other)).toBe(true);
    expect(zlib.gunzipSync(c.compress(other, 7, other.length + 1)).equals(other)).toBe(true);
  });

  it('compresses a GELF message to about zlib level 1 size', () => {
    const gelf = Buffer.from(JSON.stringify({ version: '1.1', host: 'node-1', short_message: 'GET /api/v1/items 200 12ms', timestamp: 1763805000.123456, level: 6, _container_id: 'f'.repeat(64), _container_name: 'web.1.abc', _image_name: 'nginx:1.27', _command: 'nginx -g daemon off;', _tag: 'ffffffffffff', _created: '2026-11-22T10:55:14.123456789Z' }));
    const ours = new ShortDeflate('gzip').encode(gelf).length;
    const zlibs = zlib.gzipSync(gelf, { level: 1 }).length;
    expect(ours).toBeLessThan(gelf.length * 0.75);
    expect(ours).toBeLessThan(zlibs * 1.3);
  });
});
