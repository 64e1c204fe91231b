import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../core/http/server.js';
import { BufferPool, CopySink, ExpositionWriter, ascii, utf8, type ByteSink } from '../../core/metrics/exposition-writer.js';
import { createLogger } from '../../core/log.js';

describe('exposition writer', () => {
  it('prints numbers exactly as String() does, +Inf/-Inf spelled out', () => {
    const values = [0, -0, 1, 7, 10, 99, 100, 123456789, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 9223372036854771712,
      -1, -42, 2.874561, 0.1, 1e-7, 1.5e300, 1.7e9 + 0.5, NaN, Infinity, -Infinity];
    const sink = new CopySink();
    const w = new ExpositionWriter(sink, new BufferPool(64));
    for (const v of values) { w.number(v); w.byte(10); }
    w.end();
    const expected = values.map((v) => (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v))).join('\n') + '\n';
    expect(sink.text()).toBe(expected);
  });

  it('keeps series and multi-byte label values whole across small chunks', () => {
    const sink = new CopySink();
    const w = new ExpositionWriter(sink, new BufferPool(32));
    const name = ascii('m');
    const labels = utf8('{name="ünï€😀-a-long-value-longer-than-a-chunk"');
    w.family(ascii('# TYPE m gauge\n'));
    for (let i = 0; i < 5; i++) w.series(name, labels, ascii('} '), i * 1.5);
    w.end();
    let expected = '# TYPE m gauge\n';
    for (let i = 0; i < 5; i++) expected += `m{name="ünï€😀-a-long-value-longer-than-a-chunk"} ${i * 1.5}\n`;
    expect(sink.text()).toBe(expected);
  });

  it('writes no header for a family without series', () => {
    const sink = new CopySink();
    const w = new ExpositionWriter(sink, new BufferPool());
    w.family(ascii('# TYPE empty gauge\n'));
    w.family(ascii('# TYPE full gauge\n'));
    w.series(ascii('full'), utf8('{a="b"'), ascii('} '), 1);
    w.end();
    expect(sink.text()).toBe('# TYPE full gauge\nfull{a="b"} 1\n');
  });

  it('asks the producer to wait while the sink holds its limit of chunks, and resumes on release', async () => {
    const held: Array<() => void> = [];
    const sink: ByteSink = { write: (_chunk, release) => { held.push(release); } };
    const w = new ExpositionWriter(sink, new BufferPool(16), 2);
    for (let i = 0; i < 3; i++) w.bytes(Buffer.alloc(16, 65));
    w.byte(65);
    expect(held).toHaveLength(3);
    expect(w.mustWait).toBe(true);
    let resumed = false;
    const room = w.room().then(() => { resumed = true; });
    await Promise.resolve();
    expect(resumed).toBe(false);
    held.shift()!();
    held.shift()!();
    await room;
    expect(resumed).toBe(true);
    expect(w.mustWait).toBe(false);
  });
});

describe('/metrics with a streamed collector', () => {
  /** A collector that streams `count` × 1 KiB through the writer, as the container collector does. */
  function bigCollector(count: number) {
    const pool = new BufferPool();
    const line = ascii('x'.repeat(1023) + '\n');
    return {
      name: 'big',
      collect: () => line.toString('latin1').repeat(count),
      async stream(sink: ByteSink): Promise<void> {
        const w = new ExpositionWriter(sink, pool);
        for (let i = 0; i < count; i++) {
          w.bytes(line);
          if (w.mustWait) { await w.room(); if (w.closed) break; }
        }
        w.end();
      },
    };
  }

  it('serves the whole body, and a client that leaves mid-scrape does not stop the next scrape', async () => {
    const registry = new Registry();
    const app = createApp(registry, [bigCollector(20_000)], createLogger('test'));
    const server = await new Promise<http.Server>((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    try {
      // Leaves after the first bytes of a 20 MB body.
      await new Promise<void>((resolve) => {
        http.get(url, (res) => { res.once('data', () => { res.destroy(); resolve(); }); });
      });
      const body = await (await fetch(url)).text();
      expect(body.length).toBe((await registry.metrics()).length + 20_000 * 1024);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
