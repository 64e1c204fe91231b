/**
 * Our transports against an independent receiver (Python stdlib, test/receivers/gelf_receiver.py): UDP chunking
 * with gzip/zlib/none, the 128-chunk limit, persistent TCP with reconnects, TLS with verification.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/until.js';
import { createLogger } from '../../core/log.js';
import { GelfEncoder } from '../../log-shipper/gelf-message.js';
import { arenaMessage, MessageArena } from '../../log-shipper/message-arena.js';
import type { OutMessage } from '../../log-shipper/queue.js';
import { parseDestination } from '../../log-shipper/settings.js';
import { StreamTransport } from '../../log-shipper/transport/stream.js';
import { ConnectedDatagramSocket } from '../../log-shipper/transport/datagram-socket.js';
import { UdpTransport } from '../../log-shipper/transport/udp.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';

const log = createLogger('test');
const receivers: GelfReceiver[] = [];
afterAll(async () => { await Promise.all(receivers.map((r) => r.stop())); });

async function receiver(o: Parameters<typeof startGelfReceiver>[0]): Promise<GelfReceiver> {
  const r = await startGelfReceiver(o);
  receivers.push(r);
  return r;
}

function message(text: string, n = 0): OutMessage {
  const enc = new GelfEncoder({ _container_id: 'c', _seq: String(n) }, 'test-host');
  const body = (t: string, truncatedFromBytes?: number) => ({ shortMessage: t, time: { sec: 1700000000, nsec: n }, level: 6, truncatedFromBytes });
  const json = enc.encode(body(text));
  return {
    containerId: 'c', containerName: 'c', service: '', json, data: undefined, at: 0, bytes: Buffer.byteLength(json), lines: 1, tailId: enc.tailId, tailBytes: enc.tailBytes, time: { sec: 1700000000, nsec: n }, cursor: { time: { sec: 1700000000, nsec: n }, count: 1 },
    shrink: (max) => enc.encode(body(Buffer.from(text).subarray(0, max).toString(), Buffer.byteLength(text))),
  };
}


const hooks = { truncated: 0, reconnects: 0 };
const transportHooks = { onReconnect: () => { hooks.reconnects++; }, onTruncated: () => { hooks.truncated++; } };

describe('UDP transport', () => {
  it('a destination that cannot be connected to is an error at set-up, not a socket that never connected', async () => {
    // ".invalid" never resolves (RFC 2606); the connect callback carries the error, no 'error' event does.
    await expect(ConnectedDatagramSocket.open('swarmwatch-test.invalid', 12201, 65536)).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
  });

  const udp = (port: number, compression: 'gzip' | 'zlib' | 'none', datagramSize: number, sendThread: boolean) =>
    new UdpTransport({ destination: parseDestination(`udp://127.0.0.1:${port}`), compression, compressionLevel: 1, datagramSize, resolveIntervalMs: 30_000, sendThread }, transportHooks, log);

  for (const sendThread of [true, false]) {
    const where = sendThread ? 'send thread' : 'main thread';
    for (const [compression, size] of [['gzip', 1420], ['zlib', 8154], ['none', 1420]] as const) {
      it(`sends 100 KB messages chunked (${compression}, ${size}-byte datagrams, ${where}) that an independent receiver decodes`, async () => {
        const r = await receiver({ proto: 'udp' });
        const t = udp(r.port, compression, size, sendThread);
        // Incompressible text, so gzip still needs ~55 chunks of 1420 bytes.
        const texts = [0, 1, 2].map(() => randomBytes(75_000).toString('base64'));
        await t.send(texts.map((x, i) => message(x, i)));
        expect(t.sentFromThread).toBe(sendThread);
        await until('3 messages at the receiver', async () => r.stats().messages >= 3, 10_000, 50);
        const got = r.messages();
        expect(got.map((m) => m.short_message)).toEqual(texts);
        expect(got[0]).toMatchObject({ version: '1.1', host: 'test-host', level: 6, _container_id: 'c' });
        await t.close();
      });
    }

    it(`keeps sending while nobody listens (ICMP port-unreachable is not a failed send), then delivers to a receiver that comes up (${where})`, async () => {
      const r = await receiver({ proto: 'udp' });
      const port = r.port;
      await r.stop();
      const t = udp(port, 'gzip', 1420, sendThread);
      // The first datagram draws the ICMP answer, the next send is told of it: none of them may fail.
      for (let i = 0; i < 5; i++) {
        await t.send([message(`nobody listens ${i}`)]);
        await new Promise((res) => setTimeout(res, 20));
      }
      const back = await receiver({ proto: 'udp', port });
      await new Promise((res) => setTimeout(res, 50));
      await t.send([message('after the receiver came up')]);
      await until('1 messages at the receiver', async () => back.stats().messages >= 1, 10_000, 50);
      expect(back.messages().map((m) => m.short_message)).toEqual(['after the receiver came up']);
      await t.close();
    });

    it(`truncates a message that would need more than 128 chunks instead of dropping it, keeping batch order (${where})`, async () => {
      const r = await receiver({ proto: 'udp' });
      const t = udp(r.port, 'gzip', 1420, sendThread);
      const before = hooks.truncated;
      const text = randomBytes(300_000).toString('base64');
      await t.send([message('before ✓'), message(text), message('after ✓')]);
      await until('3 messages at the receiver', async () => r.stats().messages >= 3, 10_000, 50);
      const [first, m, last] = r.messages();
      expect([first!.short_message, last!.short_message]).toEqual(['before ✓', 'after ✓']);
      expect(text.startsWith(m!.short_message as string)).toBe(true);
      expect((m!.short_message as string).length).toBeGreaterThan(50_000);
      expect(m!._swarmwatch_truncated_bytes).toBe(text.length);
      expect(hooks.truncated).toBe(before + 1);
      await t.close();
    });
  }
  it('tells a refused destination (the kernel\'s ICMP port-unreachable) from a failed send', async () => {
    const r = await receiver({ proto: 'udp' });
    const port = r.port;
    await r.stop();
    const s = await ConnectedDatagramSocket.open('127.0.0.1', port, 1 << 20);
    expect(await s.send([Buffer.from('first')])).toEqual({ refused: false });
    await until('the refusal reported', async () => (await s.send([Buffer.from('next')])).refused, 10_000, 50);
    await s.close();
  });

  it('starts a new send thread when the old one died, and delivers through it', async () => {
    const r = await receiver({ proto: 'udp' });
    const t = udp(r.port, 'gzip', 1420, true);
    await t.send([message('first')]);
    const thread = (t as unknown as { thread: { close(): Promise<void> } }).thread;
    await thread.close();
    await t.send([message('after the thread died')]);
    expect(t.sentFromThread).toBe(true);
    expect((t as unknown as { thread: unknown }).thread).not.toBe(thread);
    await until('2 messages at the receiver', async () => r.stats().messages >= 2, 10_000, 50);
    expect(r.messages().map((m) => m.short_message)).toEqual(['first', 'after the thread died']);
    await t.close();
  });
});

describe('TCP transport', () => {
  it('keeps one connection for many batches and reconnects after the receiver restarts', async () => {
    const r1 = await receiver({ proto: 'tcp' });
    const dest = parseDestination(`tcp://127.0.0.1:${r1.port}`);
    const t = new StreamTransport({ destination: dest, writeTimeoutMs: 5000, resolveIntervalMs: 30_000 }, transportHooks, log);
    for (let b = 0; b < 10; b++) await t.send(Array.from({ length: 100 }, (_, i) => message(`line ${b * 100 + i}`, b * 100 + i)));
    await until('1000 messages at the receiver', async () => r1.stats().messages >= 1000, 10_000, 50);
    expect(r1.stats().connections).toBe(1);
    expect(r1.messages().map((m) => m.short_message)).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i}`));
    await r1.stop();
    // The receiver is gone: sends fail with a clear error naming the destination, and the transport survives.
    let failure: Error | undefined;
    for (let i = 0; i < 5 && !failure; i++) {
      try { await t.send([message('lost?')]); await new Promise((res) => setTimeout(res, 100)); } catch (err) { failure = err as Error; }
    }
    expect(failure?.message).toMatch(new RegExp(`tcp://127.0.0.1:${r1.port}`));
    const r2 = await receiver({ proto: 'tcp', port: r1.port });
    const reconnectsBefore = hooks.reconnects;
    await t.send([message('after restart')]);
    await until('1 messages at the receiver', async () => r2.stats().messages >= 1, 10_000, 50);
    expect(r2.messages().at(-1)!.short_message).toBe('after restart');
    expect(hooks.reconnects).toBe(reconnectsBefore + 1);
    await t.close();
  });

  it('writes a batch straight from the arena, in more buffers than one writev takes, whole and in order to a slow receiver', async () => {
    // Arena messages alternating with text messages: every message is a buffer of its own (framedRuns), 3,000 in
    // all, and a receiver reading 2 MB/s makes the kernel take the batch in parts.
    const r = await receiver({ proto: 'tcp', readRate: 2_000_000 });
    const t = new StreamTransport({ destination: parseDestination(`tcp://127.0.0.1:${r.port}`), writeTimeoutMs: 10_000, resolveIntervalMs: 30_000 }, transportHooks, log);
    const arena = new MessageArena();
    const enc = new GelfEncoder({ _container_id: 'c' }, 'test-host');
    const batch: OutMessage[] = [];
    for (let i = 0; i < 3000; i++) {
      const text = `line ${i} ${'x'.repeat(300)}`;
      if (i % 2 === 1) { batch.push(message(text, i)); continue; }
      const src = Buffer.from(text);
      const time = { sec: 1700000000, nsec: i };
      batch.push(arenaMessage(arena, enc, { containerId: 'c', containerName: 'c', service: '' }, src, 0, src.length, 6, time, { time, count: 1 }));
    }
    const progress: number[] = [];
    await t.send(batch, (n) => progress.push(n));
    await until('3000 messages at the receiver', async () => r.stats().messages >= 3000, 20_000, 50);
    expect(r.messages().map((m) => m.short_message)).toEqual(batch.map((_, i) => `line ${i} ${'x'.repeat(300)}`));
    // Taken in parts, each reported as the messages it held whole, ending with the whole batch.
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(3000);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    await t.close();
  });

  it('reports an unreachable destination as a coded error', async () => {
    const t = new StreamTransport({ destination: parseDestination('tcp://127.0.0.1:1'), writeTimeoutMs: 2000, resolveIntervalMs: 30_000 }, transportHooks, log);
    await expect(t.send([message('x')])).rejects.toMatchObject({ code: 'SW_ERR_SHIPPER_DESTINATION_UNREACHABLE', message: expect.stringMatching(/cannot connect to tcp:\/\/127\.0\.0\.1:1: ECONNREFUSED/) });
    await t.close();
  });
});

describe('TLS transport', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-tls-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });

  // A CA and the receiver's certificate it signed, for every test here.
  beforeAll(() => {
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=swarmwatch test CA']);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost']);
    fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
  });

  it('verifies the receiver against the configured CA and refuses an unknown one', async () => {
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=other CA']);
    const r = await receiver({ proto: 'tls', cert: path.join(dir, 'srv.pem'), key: path.join(dir, 'srv.key') });
    const dest = parseDestination(`tls://localhost:${r.port}`);
    const good = new StreamTransport({ destination: dest, tls: { ca: fs.readFileSync(path.join(dir, 'ca.pem')), verify: true }, writeTimeoutMs: 5000, resolveIntervalMs: 30_000 }, transportHooks, log);
    await good.send([message('over tls', 1), message('second', 2)]);
    await until('2 messages at the receiver', async () => r.stats().messages >= 2, 10_000, 50);
    expect(r.messages().map((m) => m.short_message)).toEqual(['over tls', 'second']);
    await good.close();
    const bad = new StreamTransport({ destination: dest, tls: { ca: fs.readFileSync(path.join(dir, 'other.pem')), verify: true }, writeTimeoutMs: 5000, resolveIntervalMs: 30_000 }, transportHooks, log);
    await expect(bad.send([message('must not arrive')])).rejects.toMatchObject({ message: expect.stringMatching(/cannot connect to tls:\/\/localhost:\d+: .*(UNABLE_TO_VERIFY|SELF_SIGNED|unable to verify)/i) });
    await bad.close();
    expect(r.messages().map((m) => m.short_message)).not.toContain('must not arrive');
  });

  for (const tickets of [true, false]) {
    it(`presents its client certificate to a receiver that requires one (mutual TLS); without one nothing counts as sent (${tickets ? 'receiver sends' : 'no'} session tickets)`, async () => {
      // The same CA signs a client certificate.
      if (!fs.existsSync(path.join(dir, 'client.pem'))) {
        ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=swarmwatch shipper']);
        ssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2']);
      }
      const r = await receiver({ proto: 'tls', cert: path.join(dir, 'srv.pem'), key: path.join(dir, 'srv.key'), clientCa: path.join(dir, 'ca.pem'), noTickets: !tickets });
      const dest = parseDestination(`tls://localhost:${r.port}`);
      const ca = fs.readFileSync(path.join(dir, 'ca.pem'));
      const withCert = new StreamTransport({ destination: dest, tls: { ca, cert: fs.readFileSync(path.join(dir, 'client.pem')), key: fs.readFileSync(path.join(dir, 'client.key')), verify: true }, writeTimeoutMs: 5000, resolveIntervalMs: 30_000 }, transportHooks, log);
      await withCert.send([message('with a client certificate', 1)]);
      await until('the message at the receiver', async () => r.stats().messages >= 1, 10_000, 50);
      await withCert.close();
      // In TLS 1.3 the refusal comes after our side of the handshake is done: the kernel took the first batch before
      // the receiver's alert arrived, and a transport that took that as sent lost every batch (each on a new connection).
      const without = new StreamTransport({ destination: dest, tls: { ca, verify: true }, writeTimeoutMs: 5000, resolveIntervalMs: 30_000 }, transportHooks, log);
      const outcomes: string[] = [];
      for (let i = 0; i < 3; i++) {
        await without.send([message(`no client certificate ${i}`, 10 + i)]).then(() => outcomes.push('sent'), (err: Error) => outcomes.push(err.message));
      }
      await without.close();
      expect(r.messages().map((m) => m.short_message)).toEqual(['with a client certificate']);
      expect(outcomes).toHaveLength(3);
      for (const o of outcomes) expect(o).toMatch(/^cannot connect to tls:\/\/localhost:\d+: ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: the receiver refused our client certificate .*set shipper\.tls-cert and shipper\.tls-key/);
    });
  }
});

describe('bad configuration', () => {
  it('exits with status 2 naming the option (unknown scheme, port out of range, unreadable CA, unwritable state dir)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { ensureBuild, ROOT } = await import('./shipper-support.js');
    ensureBuild();
    // The real CLI once it lists the log-shipper command; until then the same runAgent path through our runner.
    const help = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), '--help'], { encoding: 'utf8' });
    const cli = help.stdout.includes('log-shipper')
      ? [path.join(ROOT, 'dist/cli/main.js'), 'log-shipper']
      : [path.join(ROOT, 'test/fixtures/shipper/run-shipper.mjs'), ROOT];
    const file = path.join(os.tmpdir(), `sw-not-a-dir-${process.pid}`);
    fs.writeFileSync(file, '');
    const cases: [string[], RegExp][] = [
      [['--shipper.destination=foo://x:1'], /shipper\.destination.*unknown scheme "foo"/],
      [['--shipper.destination=tcp://x:99999'], /shipper\.destination.*port 99999 is out of range/],
      [['--shipper.destination=tls://x:1', '--shipper.tls-ca=/nonexistent/ca.pem'], /shipper\.tls-ca/],
      [['--shipper.destination=tcp://x:1', `--shipper.state-dir=${file}/state`], /shipper\.state-dir/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(process.execPath, [...cli, '--http.listen=127.0.0.1:0', '--docker.host=unix:///nonexistent.sock', ...args], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
    }
    fs.rmSync(file, { force: true });
  });
});
