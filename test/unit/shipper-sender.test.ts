import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import type { LogRecord } from '../../log-shipper/assembler.js';
import type { Cursor } from '../../log-shipper/cursor.js';
import { CursorStore, type CursorEntry } from '../../log-shipper/cursor-store.js';
import { GelfEncoder } from '../../log-shipper/gelf-message.js';
import { arenaMessage, MessageArena } from '../../log-shipper/message-arena.js';
import { ShipperMetrics } from '../../log-shipper/metrics.js';
import { DeliveryQueue, type OutMessage } from '../../log-shipper/queue.js';
import { Sender } from '../../log-shipper/sender.js';
import { bodyOf } from '../../log-shipper/shipper.js';
import type { TlsSettings } from '../../log-shipper/settings.js';
import { formatUnixNano } from '../../log-shipper/timestamp.js';
import { StreamTransport } from '../../log-shipper/transport/stream.js';
import { until as pollUntil } from '../support/until.js';

/**
 * A kill -9 of the shipper while a receiver is slow, against a real loopback connection: the receiver must end up
 * with exactly the messages the committed cursors cover, so that a restart from them neither loses nor repeats one.
 * A kill leaves the kernel to deliver what it holds and close the connection; the receiver drops an unterminated
 * last frame, as Graylog does.
 */

/** Default shipper.batch-size (log-shipper/options.ts). */
const DEFAULT_BATCH_BYTES = 1048576;
/** Per container: with three containers ≈ 9 MB, about twice what loopback's socket buffers swallow here (≈ 4 MB). */
const MESSAGES_PER_CONTAINER = 6000;

interface Container {
  id: string;
  name: string;
  service: string;
  /** Arena messages (GelfEncoder.writeEscaped), as the json-file reader makes them; else text (encode), as the API reader. */
  escaped: boolean;
}

const CONTAINERS: readonly Container[] = [
  { id: 'a'.repeat(64), name: 'shop_api.1.x', service: 'shop_api', escaped: true },
  { id: 'b'.repeat(64), name: 'shop_worker.1.y', service: 'shop_worker', escaped: true },
  { id: 'c'.repeat(64), name: 'cron', service: '', escaped: false },
];

/** One queued message and what delivering it means: the `seq`-th (1-based) message of `container`. */
interface Sent {
  container: Container;
  seq: number;
}

/**
 * Three messages share each timestamp (cursor counts 1, 2, 3), so a cursor that mixed up time and count would
 * point at another message; `byCursor` maps each cursor back to the one message it ends at.
 */
function cursorOf(seq: number): Cursor {
  return { time: { sec: 1_700_000_000 + Math.floor((seq - 1) / 3), nsec: 250_000_000 }, count: ((seq - 1) % 3) + 1 };
}
const cursorKey = (c: Cursor) => `${formatUnixNano(c.time)}/${c.count}`;
const byCursor = new Map<string, number>(Array.from({ length: MESSAGES_PER_CONTAINER }, (_, i) => [cursorKey(cursorOf(i + 1)), i + 1]));

/** Closed after each test, last first: receivers, senders, stores, temp dirs. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/**
 * A started Sender over a real TCP connection to 127.0.0.1:`port`, with a cursor store in a temp dir and an unbounded
 * queue; all of it closed after the test.
 */
function senderTo(port: number, batchBytes: number, batchWaitMs = 0): { queue: DeliveryQueue; sender: Sender } {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-sender-state-'));
  cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const log = createLogger('test').child('log-shipper');
  const store = new CursorStore(stateDir);
  cleanups.push(async () => { await store.idle(); store.close(); });
  const queue = new DeliveryQueue(64 * 1048576);
  const transport = new StreamTransport({ destination: { scheme: 'tcp', host: '127.0.0.1', port, url: `tcp://127.0.0.1:${port}` }, writeTimeoutMs: 5000, resolveIntervalMs: 60_000 },
    { onReconnect: () => undefined, onTruncated: () => undefined }, log);
  cleanups.push(() => transport.close());
  const sender = new Sender(queue, transport, store, store.load().entries, new ShipperMetrics(new Registry()), log, { batchBytes, batchWaitMs, reconnectMaxDelayMs: 1000, replayWindowMs: 1000, replayMaxBytes: 1048576 });
  cleanups.push(() => sender.stop(0));
  sender.start();
  return { queue, sender };
}

/** The containers' messages interleaved one by one, as readers of busy containers fill the queue. */
function queueMessages(queue: DeliveryQueue): Sent[] {
  const arena = new MessageArena();
  const encoders = new Map(CONTAINERS.map((c) => [c.id, new GelfEncoder({ _container_id: c.id, _container_name: c.name }, 'node-1')]));
  const order: Sent[] = [];
  for (let seq = 1; seq <= MESSAGES_PER_CONTAINER; seq++) {
    for (const c of CONTAINERS) {
      const encoder = encoders.get(c.id)!;
      const text = `${c.name} #${seq} ${'x'.repeat(300 + ((seq * 7) % 97))}`;
      const cursor = cursorOf(seq);
      let m: OutMessage;
      if (c.escaped) {
        const src = Buffer.from(text);
        m = arenaMessage(arena, encoder, { containerId: c.id, containerName: c.name, service: c.service }, src, 0, src.length, 6, cursor.time, cursor);
      } else {
        // As LogShipper.deliver builds a message from a record.
        const record: LogRecord = { stream: 'stdout', time: cursor.time, lines: [text], cursor, frames: 1 };
        const json = encoder.encode(bodyOf(record));
        m = {
          containerId: c.id, containerName: c.name, service: c.service,
          json, data: undefined, at: 0, bytes: Buffer.byteLength(json), lines: 1, tailId: encoder.tailId, tailBytes: encoder.tailBytes, time: record.time, cursor,
          shrink: (max) => encoder.encode(bodyOf(record, max)),
        };
      }
      queue.push(m);
      order.push({ container: c, seq });
    }
  }
  return order;
}

/** How many messages of each container a cursor state covers (0 for a container it does not name). */
function coveredCounts(entries: ReadonlyMap<string, CursorEntry>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of CONTAINERS) {
    const e = entries.get(c.id);
    if (!e) { out[c.name] = 0; continue; }
    const seq = byCursor.get(cursorKey(e.cursor));
    if (seq === undefined) throw new Error(`${c.name}: committed cursor ${cursorKey(e.cursor)} is no message's cursor`);
    out[c.name] = seq;
  }
  return out;
}

/** Complete frames (null-terminated) as (container name, seq); the unterminated rest is dropped, as Graylog does. */
function completeFrames(bytes: Buffer): { name: string; seq: number }[] {
  const frames: { name: string; seq: number }[] = [];
  let start = 0;
  for (let end = bytes.indexOf(0, start); end >= 0; start = end + 1, end = bytes.indexOf(0, start)) {
    const gelf = JSON.parse(bytes.toString('utf8', start, end)) as { short_message: string; _container_name: string };
    const seq = Number(/^\S+ #(\d+) /.exec(gelf.short_message)?.[1]);
    frames.push({ name: gelf._container_name, seq });
  }
  return frames;
}

/** Batches as DeliveryQueue.peek cuts them: where each one ends, in messages from the start of the queue. */
function batchEnds(order: readonly Sent[], sizes: readonly number[], batchBytes: number): Set<number> {
  const ends = new Set<number>();
  let bytes = 0;
  for (let i = 0; i < order.length; i++) {
    if (bytes > 0 && bytes + sizes[i]! > batchBytes) { ends.add(i); bytes = 0; }
    bytes += sizes[i]!;
  }
  ends.add(order.length);
  return ends;
}

/** A receiver that reads nothing until told to; then everything up to the end of the connection. */
interface SlowReceiver {
  port: number;
  connections: number;
  /** Stops accepting connections (a restarted shipper must not reach this one). */
  stopListening(): void;
  /** Starts reading; resolves with every byte the connection carried once it closes. */
  readToEnd(): Promise<Buffer>;
  close(): Promise<void>;
}

async function slowReceiver(tlsOptions?: tls.TlsOptions): Promise<SlowReceiver> {
  const chunks: Buffer[] = [];
  let socket: net.Socket | undefined;
  let ended = false;
  let onEnded: (() => void) | undefined;
  const sockets = new Set<net.Socket>();
  const accept = (s: net.Socket) => {
    r.connections++;
    socket = s;
    sockets.add(s);
    // A TLS socket must read during the handshake: it stops reading here, once its receive buffer is full.
    s.pause();
    s.on('data', (d: Buffer) => chunks.push(d));
    // A kill can leave a TLS record cut in the middle: the receiver just sees the connection end there.
    s.on('error', () => undefined);
    s.on('close', () => { ended = true; sockets.delete(s); onEnded?.(); });
  };
  const server = tlsOptions
    ? tls.createServer(tlsOptions, accept)
    // pauseOnConnect: the receiver never reads a byte before readToEnd, so the kernel's buffers fill for sure.
    : net.createServer({ pauseOnConnect: true }, accept);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r: SlowReceiver = {
    port: (server.address() as net.AddressInfo).port,
    connections: 0,
    stopListening: () => { if (server.listening) server.close(); },
    readToEnd: () => new Promise<Buffer>((resolve) => {
      onEnded = () => resolve(Buffer.concat(chunks));
      if (ended) onEnded();
      else socket?.resume();
    }),
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return r;
}

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

/**
 * Resolves once the receiver has its connection and the committed cursors have not moved for `quietMs` since (the
 * receiver's backpressure reached the sender; a sender that never commits stalls too, for the assertions to judge).
 */
async function untilStalled(cursors: ReadonlyMap<string, CursorEntry>, connected: () => boolean, quietMs: number, maxMs: number): Promise<void> {
  const signature = () => [...cursors].map(([id, e]) => `${id}=${cursorKey(e.cursor)}`).join(',');
  const start = Date.now();
  let last: string | undefined;
  let since = start;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = connected() ? signature() : undefined;
    if (now !== last) { last = now; since = Date.now(); }
    else if (now !== undefined && Date.now() - since >= quietMs) return;
    if (Date.now() - start > maxMs) throw new Error(`no stall within ${maxMs} ms (connected: ${connected()}): the receiver's backpressure never stopped the sender`);
  }
}

describe('Sender: kill -9 while a receiver is slow', () => {

  let certDir: string;
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-sender-cert-'));
    const keyFile = path.join(certDir, 'key.pem');
    const certFile = path.join(certDir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=graylog.test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'pipe' });
    cert = fs.readFileSync(certFile);
    key = fs.readFileSync(keyFile);
  });
  afterAll(() => { fs.rmSync(certDir, { recursive: true, force: true }); });

  async function killMidStream(opts: { batchBytes: number; tls: boolean }) {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-sender-state-'));
    cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const receiver = await slowReceiver(opts.tls ? { cert, key } : undefined);
    cleanups.push(() => receiver.close());

    const log = createLogger('test').child('log-shipper');
    const metrics = new ShipperMetrics(new Registry());
    const store = new CursorStore(stateDir);
    cleanups.push(async () => { await store.idle(); store.close(); });
    const cursors = store.load().entries;
    const queue = new DeliveryQueue(64 * 1048576);
    const order = queueMessages(queue);
    const sizes = queue.peek(Number.MAX_SAFE_INTEGER).map((m) => m.bytes);
    const tlsSettings: TlsSettings | undefined = opts.tls ? { ca: cert, verify: true } : undefined;
    const transport = new StreamTransport({
      destination: { scheme: opts.tls ? 'tls' : 'tcp', host: '127.0.0.1', port: receiver.port, url: `${opts.tls ? 'tls' : 'tcp'}://127.0.0.1:${receiver.port}` },
      tls: tlsSettings,
      // Far longer than the test: a stalled write must stay stalled, not time out and reconnect.
      writeTimeoutMs: 60_000,
      resolveIntervalMs: 60_000,
    }, { onReconnect: () => undefined, onTruncated: () => undefined }, log);
    cleanups.push(() => transport.close());
    const sender = new Sender(queue, transport, store, cursors, metrics, log, {
      batchBytes: opts.batchBytes, batchWaitMs: 0, reconnectMaxDelayMs: 1000, replayWindowMs: 1000, replayMaxBytes: 4 * 1048576,
    });
    const connection = () => (transport as unknown as { socket?: net.Socket }).socket;
    // A sender stuck in a write ends only with its connection (the write timeout is longer than the test).
    cleanups.push(() => { connection()?.destroy(); return sender.stop(0); });
    sender.start();

    await untilStalled(cursors, () => receiver.connections > 0, 400, 6000);

    // The kill, in one synchronous step so that the sender cannot write between the two: what a restart would
    // load, and the connection closed as the kernel closes a killed process's socket (it still delivers what it holds).
    const { entries: committedOnDisk, inFlight } = new CursorStore(stateDir).load();
    const inMemory = coveredCounts(cursors);
    const socket = connection();
    expect(socket, 'the transport holds its connection in `socket`').toBeInstanceOf(net.Socket);
    socket!.destroy();
    receiver.stopListening();

    const bytes = await deadline(receiver.readToEnd(), 5000, 'reading what the kernel held');
    await sender.stop(0);
    return { committed: coveredCounts(committedOnDisk), inMemory, frames: completeFrames(bytes), order, sizes, connections: receiver.connections, inFlight };
  }

  function expectExactlyOnce(r: Awaited<ReturnType<typeof killMidStream>>) {
    const total = r.order.length;
    const committedTotal = Object.values(r.committed).reduce((a, b) => a + b, 0);
    expect(r.connections).toBe(1);
    const received: Record<string, number> = Object.fromEntries(CONTAINERS.map((c) => [c.name, 0]));
    for (const f of r.frames) received[f.name] = (received[f.name] ?? 0) + 1;
    // The property: what the receiver got is exactly what the restart will skip, per container (received above
    // committed: repeated after the restart; below: lost).
    expect(received, 'complete frames received per container vs messages the committed cursors cover').toEqual(r.committed);
    // Not vacuous: the kill landed with part of the messages in the kernel, part still queued.
    expect(committedTotal, 'messages committed before the kill').toBeGreaterThan(0);
    expect(committedTotal, 'messages committed before the kill').toBeLessThan(total);
    // The sender's own view is what it wrote to disk: a restart starts where the sender believed it was.
    expect(r.inMemory).toEqual(r.committed);
    // And it is the queue's first messages, in order, each once (no gap, no repeat).
    const firstOff = r.frames.findIndex((f, i) => f.name !== r.order[i]!.container.name || f.seq !== r.order[i]!.seq);
    expect(firstOff, 'first received frame that is not the next queued message').toBe(-1);
    // The committed state is a prefix of the queue too: the restart resumes every container at the same point.
    const prefix = r.order.slice(0, committedTotal);
    for (const c of CONTAINERS) expect(r.committed[c.name]).toBe(prefix.filter((s) => s.container === c).length);
    return { committedTotal, total };
  }

  it('TCP, slow receiver: a kill -9 leaves the receiver exactly the messages a restart skips, none lost or repeated', async () => {
    const r = await killMidStream({ batchBytes: DEFAULT_BATCH_BYTES, tls: false });
    const { committedTotal } = expectExactlyOnce(r);
    // Whole batches were committed before the stall (the ≈ 4 MB the kernel holds is several 1 MiB batches).
    const ends = [...batchEnds(r.order, r.sizes, DEFAULT_BATCH_BYTES)].sort((a, b) => a - b);
    expect(committedTotal).toBeGreaterThan(ends[0]!);
    // Stalled, the sender is between writes the kernel took nothing of: a restart has no write to warn about.
    expect(r.inFlight, 'a write announced at the kill').toBeUndefined();
  });

  it('TCP, a batch bigger than the kernel takes: before a kill -9 only the messages the kernel took whole are committed', async () => {
    // Every message in one batch: any commit between none and all is one the sender made for a write the kernel
    // took only in part (a commit of the whole batch, or none, would be all or nothing).
    const r = await killMidStream({ batchBytes: 64 * 1048576, tls: false });
    const { committedTotal, total } = expectExactlyOnce(r);
    expect(batchEnds(r.order, r.sizes, 64 * 1048576)).toEqual(new Set([total]));
    expect(committedTotal).toBeLessThan(total);
  });

  it('TLS, slow receiver: a kill -9 leaves the receiver exactly the messages a restart skips, none lost or repeated', async () => {
    const r = await killMidStream({ batchBytes: DEFAULT_BATCH_BYTES, tls: true });
    const { committedTotal } = expectExactlyOnce(r);
    // A TLS record waits in Node's buffer until the kernel takes it, at a moment the sender does not see: it stays
    // announced (here it had not reached the receiver, so a restart's warning says "may").
    expect(r.inFlight?.lines, 'the TLS record waiting at the kill, announced').toBeGreaterThan(0);
    expect(r.inFlight!.lines).toBeLessThan(r.order.length - committedTotal + 1);
  });
});

describe('Sender: its turn in a burst', () => {

  it('says a batch waits for it while it waits its event-loop turn with a whole batch queued, and takes it at that turn', async () => {
    let received = 0;
    const server = net.createServer((s) => s.on('data', (d: Buffer) => { for (const b of d) if (b === 0) received++; }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const batchBytes = 64 * 1024;
    const { queue, sender } = senderTo((server.address() as net.AddressInfo).port, batchBytes);
    const arena = new MessageArena();
    const encoder = new GelfEncoder({ _container_id: 'e'.repeat(64) }, 'node-1');
    const origin = { containerId: 'e'.repeat(64), containerName: 'burst', service: '' };
    let seq = 0;
    const push = () => {
      const src = Buffer.from(`line ${++seq} ${'x'.repeat(200)}`);
      const cursor: Cursor = { time: { sec: 1_700_000_000, nsec: seq }, count: 1 };
      queue.push(arenaMessage(arena, encoder, origin, src, 0, src.length, 6, cursor.time, cursor));
    };
    // A first line wakes the sender; a small batch waits one turn for other readers' lines.
    push();
    await Promise.resolve();
    await Promise.resolve();
    expect(sender.batchWaiting, 'one line queued').toBe(false);
    /** Queues a whole batch: the readers are told to stop there; at the sender's next turn it is taken and sent. */
    const queueBatchAndSeeItTaken = async (when: string) => {
      while (queue.bytes < batchBytes) push();
      expect(sender.batchWaiting, `a whole batch queued ${when}`).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(sender.batchWaiting, `taken at the sender's turn (queued ${when})`).toBe(false);
      const queued = seq;
      await pollUntil('the queued lines at the receiver', () => received === queued, 5000, 20);
    };
    // Readers whose turn comes first queue a whole batch.
    await queueBatchAndSeeItTaken('while the sender waits its turn');
    // The queue is empty again: a reader that queues a whole batch before the sender even woke (it wakes in a
    // microtask, after that reader's parse) is told to stop there too.
    await pollUntil('the sender idle again', () => queue.length === 0, 5000, 20);
    await new Promise((r) => setTimeout(r, 20));
    await queueBatchAndSeeItTaken('before the sender woke');
  });
});

describe('Sender: a steady trickle (shipper.batch-wait)', () => {

  /**
   * A receiver that notes when each null-terminated message arrives and how many reads brought them (on loopback
   * with TCP_NODELAY a small write arrives as one read: reads stand for the sender's writes).
   */
  async function arrivalReceiver(): Promise<{ port: number; arrivals: number[]; reads: () => number }> {
    const arrivals: number[] = [];
    let reads = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('data', (d: Buffer) => {
        reads++;
        const now = performance.now();
        for (const b of d) if (b === 0) arrivals.push(now);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
    return { port: (server.address() as net.AddressInfo).port, arrivals, reads: () => reads };
  }

  /** Queues one ≈ 250-byte message every `everyMs` for `count` messages; resolves with when each was queued. */
  async function trickle(queue: DeliveryQueue, count: number, everyMs: number, firstSeq = 0): Promise<number[]> {
    const arena = new MessageArena();
    const encoder = new GelfEncoder({ _container_id: 'd'.repeat(64) }, 'node-1');
    const origin = { containerId: 'd'.repeat(64), containerName: 'trickle', service: '' };
    const queuedAt: number[] = [];
    for (let i = 1; i <= count; i++) {
      const seq = firstSeq + i;
      const src = Buffer.from(`line ${seq} ${'x'.repeat(200)}`);
      const cursor: Cursor = { time: { sec: 1_700_000_000, nsec: seq }, count: 1 };
      queuedAt.push(performance.now());
      queue.push(arenaMessage(arena, encoder, origin, src, 0, src.length, 6, cursor.time, cursor));
      if (i < count) await new Promise((r) => setTimeout(r, everyMs));
    }
    return queuedAt;
  }

  it('sends a line every 10 ms in about one write per batch-wait, no line later than it allows, and the first line after a quiet spell at once', async () => {
    const waitMs = 200;
    const rx = await arrivalReceiver();
    const { queue } = senderTo(rx.port, DEFAULT_BATCH_BYTES, waitMs);
    const queuedAt = await trickle(queue, 100, 10);
    await pollUntil('100 lines at the receiver', () => rx.arrivals.length === 100, 5000, 10);
    const delays = rx.arrivals.map((t, i) => t - queuedAt[i]!);
    // The first line: nothing was sent before it, so it leaves at once.
    expect(delays[0], 'first line, ms').toBeLessThan(50);
    // ≈ 1 s of lines at one write per 200 ms: about 6 writes (the first line's alone), never 100.
    expect(rx.reads(), 'reads at the receiver (one per write)').toBeLessThanOrEqual(12);
    expect(Math.max(...delays), 'longest wait of a line, ms').toBeLessThan(waitMs + 100);
    // Quiet for longer than batch-wait: the next line leaves at once again.
    await new Promise((r) => setTimeout(r, waitMs + 100));
    const [again] = await trickle(queue, 1, 0, 100);
    await pollUntil('the line after the quiet spell', () => rx.arrivals.length === 101, 5000, 5);
    expect(rx.arrivals[100]! - again!, 'line after a quiet spell, ms').toBeLessThan(50);
  });

  it('with batch-wait 0 writes each of those lines on its own', async () => {
    const rx = await arrivalReceiver();
    const { queue } = senderTo(rx.port, DEFAULT_BATCH_BYTES, 0);
    await trickle(queue, 100, 10);
    await pollUntil('100 lines at the receiver', () => rx.arrivals.length === 100, 5000, 10);
    expect(rx.reads(), 'reads at the receiver').toBeGreaterThan(50);
  });

  it('does not wait out batch-wait once half a batch is queued', async () => {
    const rx = await arrivalReceiver();
    const batchBytes = 64 * 1024;
    const { queue } = senderTo(rx.port, batchBytes, 5000);
    // One line goes at once and starts the 5 s wait; a second one waits for it.
    await trickle(queue, 1, 0);
    await pollUntil('the first line', () => rx.arrivals.length === 1, 5000, 5);
    await trickle(queue, 1, 0, 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(rx.arrivals.length, 'the second line waits').toBe(1);
    // Half a batch queued while the sender waits: it leaves with the second line, without waiting the rest.
    const start = performance.now();
    const arena = new MessageArena();
    const encoder = new GelfEncoder({ _container_id: 'd'.repeat(64) }, 'node-1');
    const origin = { containerId: 'd'.repeat(64), containerName: 'trickle', service: '' };
    let seq = 2;
    while (queue.bytes < batchBytes / 2) {
      seq++;
      const src = Buffer.from(`line ${seq} ${'x'.repeat(200)}`);
      const cursor: Cursor = { time: { sec: 1_700_000_000, nsec: seq }, count: 1 };
      queue.push(arenaMessage(arena, encoder, origin, src, 0, src.length, 6, cursor.time, cursor));
    }
    await pollUntil('half a batch at the receiver', () => rx.arrivals.length === seq, 4000, 5);
    expect(performance.now() - start, 'ms until half a batch arrived').toBeLessThan(1000);
  });

  it('sends the tail of a burst at once: a small batch after a large one does not wait', async () => {
    const rx = await arrivalReceiver();
    const batchBytes = 64 * 1024;
    const { queue } = senderTo(rx.port, batchBytes, 5000);
    const arena = new MessageArena();
    const encoder = new GelfEncoder({ _container_id: 'd'.repeat(64) }, 'node-1');
    const origin = { containerId: 'd'.repeat(64), containerName: 'burst', service: '' };
    let seq = 0;
    const push = () => {
      seq++;
      const src = Buffer.from(`line ${seq} ${'x'.repeat(200)}`);
      const cursor: Cursor = { time: { sec: 1_700_000_000, nsec: seq }, count: 1 };
      queue.push(arenaMessage(arena, encoder, origin, src, 0, src.length, 6, cursor.time, cursor));
    };
    // A burst of 1.2 batches: one whole batch, then a tail of a fifth of one.
    const start = performance.now();
    while (queue.bytes < batchBytes * 1.2) push();
    await pollUntil('the whole burst at the receiver', () => rx.arrivals.length === seq, 4000, 5);
    expect(performance.now() - start, 'ms until the tail arrived').toBeLessThan(1000);
    // After the small tail, the next small batch is a trickle again: it waits.
    push();
    const line = seq;
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.arrivals.length, `line ${line}, after the tail`).toBe(line - 1);
  });
});

describe('Sender: arena slabs written again', () => {

  it('a slab comes back only when nothing can read its messages again: a replay after a break sends them as they were', async () => {
    /** What each connection received, in order. */
    const connections: Buffer[][] = [];
    const sockets = new Set<net.Socket>();
    let server: net.Server | undefined;
    let port = 0;
    const listen = async () => {
      server = net.createServer((s) => {
        const got: Buffer[] = [];
        connections.push(got);
        sockets.add(s);
        s.on('data', (d: Buffer) => got.push(d));
        s.on('close', () => sockets.delete(s));
      });
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
      port = (server.address() as net.AddressInfo).port;
    };
    const goDown = async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server!.close(() => r()));
    };
    await listen();
    cleanups.push(() => goDown());
    const framesOf = (c: Buffer[]) => completeFrames(Buffer.concat(c)).map((f) => f.seq);

    const { queue } = senderTo(port, 16 * 1024);

    // Small slabs: a few messages each, so that a slab given back too early is written again within the test.
    const arena = new MessageArena(4096, 64);
    const encoder = new GelfEncoder({ _container_id: 'f'.repeat(64), _container_name: 'web' }, 'node-1');
    const origin = { containerId: 'f'.repeat(64), containerName: 'web', service: '' };
    const slabsUsed = new Set<Buffer>();
    let seq = 0;
    const push = (n: number) => {
      for (let i = 0; i < n; i++) {
        seq++;
        const src = Buffer.from(`web #${seq} ${'y'.repeat(300 + (seq % 50))}`);
        const cursor: Cursor = { time: { sec: 1_700_000_000, nsec: seq }, count: 1 };
        const m = arenaMessage(arena, encoder, origin, src, 0, src.length, 6, cursor.time, cursor);
        slabsUsed.add(m.data!);
        queue.push(m);
      }
    };
    const upTo = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    push(40);
    await pollUntil('the first 40 messages at the receiver', () => framesOf(connections[0]!).length === 40, 5000, 20);
    // The receiver dies holding them (for all the shipper knows, unread) and is away while 200 more are queued:
    // written into the arena while the first 40 wait in the sender's replay window.
    await goDown();
    push(100);
    // The sender finds the receiver gone and keeps what it delivered last for a replay; 100 more are written while
    // it waits to reconnect.
    await new Promise((r) => setTimeout(r, 400));
    push(100);
    await listen();
    await pollUntil('the replay and the 200 at the receiver', () => connections.length === 2 && framesOf(connections[1]!).length === 240, 5000, 20);
    expect(framesOf(connections[0]!)).toEqual(upTo(1, 40));
    // Replayed byte for byte (completeFrames parses every frame and reads its number back): no slab of the first 40
    // was written again while they could still be sent.
    expect(framesOf(connections[1]!)).toEqual([...upTo(1, 40), ...upTo(41, 240)]);

    // Once past the replay window (trimmed when the next batch is delivered), their slabs are written again.
    await new Promise((r) => setTimeout(r, 1100));
    push(1);
    await pollUntil('message 241 at the receiver', () => framesOf(connections[1]!).length === 241, 5000, 20);
    const before = slabsUsed.size;
    push(100);
    expect(slabsUsed.size, 'slabs after 100 more messages: the delivered ones written again, no new one').toBe(before);
    await pollUntil('messages up to 341 at the receiver', () => framesOf(connections[1]!).length === 341, 5000, 20);
    expect(framesOf(connections[1]!)).toEqual([...upTo(1, 40), ...upTo(41, 341)]);
  });
});
