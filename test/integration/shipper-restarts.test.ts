/**
 * Crash safety: the shipper is kill -9'd six times while containers log continuously, and a container is created,
 * logs and exits while the shipper is down. Afterwards the independent receiver must hold every line.
 * Three shippers run side by side on the same containers, each with its own receiver and all killed together (so
 * covering them costs no extra wall time): read-mode api and read-mode file over TCP, and read-mode file over TLS.
 *
 * Nothing may be lost. Repeats: over plain TCP the shipper writes to the socket's descriptor itself, so it knows
 * which messages the kernel holds whole (and will deliver even after a kill -9) and commits exactly those; over
 * TLS it writes one record of whole messages at a time and commits them once that record is in the kernel. The
 * commit is one small journal write right after the write syscall; a kill that lands between the two (most often
 * because the write woke the receiver, which then preempts the shipper on this 2-core machine) repeats what that
 * write carried. So: at most one of the six kills may repeat anything, and only one contiguous stretch of lines
 * per container (`repeatRuns` ≤ 1). Before exactly-once commits every kill under backpressure repeated part of a
 * batch (308 and 321 lines per run over TCP, ≈ 4,000 over TLS), which this fails. Two receivers read slower than
 * the containers write, so their shippers' kills land while the kernel holds part of a batch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, ensureBuild, selfSignedCert, startShipper, until, type ShipperProcess } from './shipper-support.js';

/**
 * `readRate`: bytes/s the lane's receiver reads (0: as fast as it can). A slow receiver still drains the killed
 * shipper's connection while the restarted one sends on a new connection, and it reads both at once (as Graylog
 * does): lines then arrive out of order across the kill, which GELF's timestamps put right. Order is asserted where
 * the receiver keeps up. The slow ones read ≈1.5 MB/s while the containers write ≈2 MB/s of GELF: those shippers
 * work against backpressure, where a kill finds a batch partly in the kernel.
 */
const LANES = {
  api: { readMode: 'api', proto: 'tcp', readRate: 0 },
  file: { readMode: 'file', proto: 'tcp', readRate: 1_500_000 },
  'file-tls': { readMode: 'file', proto: 'tls', readRate: 1_500_000 },
} as const;
type Lane = keyof typeof LANES;
const lanes = Object.keys(LANES) as Lane[];
let engine: PrivateEngine;
const receivers = {} as Record<Lane, GelfReceiver>;
const shippers: Partial<Record<Lane, ShipperProcess>> = {};
const image = 'swarmwatch-test/busybox:1';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-kill-'));
const tls = selfSignedCert(work);

beforeAll(async () => {
  ensureBuild();
  engine = await startEngine({ name: 'shipkill' });
  await ensureBusyboxImage(engine);
  for (const lane of lanes) {
    const { proto, readRate } = LANES[lane];
    receivers[lane] = await startGelfReceiver({ proto, dir: work, readRate, ...(proto === 'tls' ? tls : {}) });
  }
});

afterAll(async () => {
  for (const lane of lanes) await shippers[lane]?.stop().catch(() => undefined);
  for (const lane of lanes) await receivers[lane]?.stop();
  await engine?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function shipperArgs(lane: Lane): string[] {
  const { readMode, proto } = LANES[lane];
  const args = [`--shipper.destination=${proto}://127.0.0.1:${receivers[lane].port}`, `--shipper.state-dir=${path.join(work, `state-${lane}`)}`, `--shipper.read-mode=${readMode}`];
  return proto === 'tls' ? [...args, `--shipper.tls-ca=${tls.cert}`] : args;
}

it('loses nothing and repeats at most one write across six kill -9 restarts, including a container that lived only while the shipper was down (read modes api and file over TCP, file over TLS)', async () => {
  const expected: Record<string, number> = {};
  const start = async (lane: Lane) => { shippers[lane] = await startShipper(engine.dockerHost, shipperArgs(lane), path.join(work, `shipper-${lane}.log`)); };
  await Promise.all(lanes.map(start));
  // Three containers at ≈2,000 lines/s each for ≈15 s.
  for (let i = 0; i < 3; i++) {
    expected[`stream-${i}`] = 30_000;
    await engine.docker(['run', '-d', '--network', 'none', '--name', `stream-${i}`, image, 'sh', '-c', counterScript(`s${i}`, 30_000, 200, 100_000)]);
  }
  let kills = 0;
  for (let round = 1; round <= 6; round++) {
    await new Promise((r) => setTimeout(r, 1200 + Math.floor(Math.random() * 800)));
    // Every kill lands on a shipper at work, and every killed shipper came back: the one started last has connected
    // (fails the test after 30 s otherwise). On a loaded 2-core runner an api-mode shipper once took longer than the
    // 1.2 s above to send anything. The one started after the last kill connects only if lines are left to ship.
    await until('every lane\'s current shipper connected', () => lanes.every((lane) => receivers[lane].stats().connections >= 1 + kills), 30_000, 50);
    await Promise.all(lanes.map((lane) => shippers[lane]!.kill9()));
    kills++;
    if (round === 3) {
      expected['while-down'] = 500;
      await engine.docker(['run', '--network', 'none', '--name', 'while-down', image, 'sh', '-c', counterScript('w', 500)]);
    }
    await Promise.all(lanes.map(start));
  }
  await engine.docker(['wait', 'stream-0', 'stream-1', 'stream-2'], { timeoutMs: 60_000 });
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  await until(`${total} messages in every lane`, () => lanes.every((lane) => receivers[lane].stats().messages >= total), 60_000, 500)
    .catch((err) => { for (const lane of lanes) console.log(lane, receivers[lane].stats(), checkSequences(receivers[lane].messages(), expected)); throw err; });
  await new Promise((r) => setTimeout(r, 2000)); // room for duplicates to show up
  const results = Object.fromEntries(lanes.map((lane) => {
    const msgs = receivers[lane].messages();
    const result = checkSequences(msgs, expected);
    console.log(`kill -9 x${kills} (${lane}): received ${msgs.length} of ${total}`, result);
    return [lane, { ...result, received: msgs.length }];
  }));
  for (const lane of lanes) {
    const r = results[lane]!;
    expect({ lost: r.lost, received: r.received - r.duplicated }, lane).toEqual({ lost: 0, received: total });
    // Per container: a write repeated by one kill is one stretch; repeats at every kill would be several. Two
    // kills that each repeated lines of a different container are not told apart by this (documented in the note).
    expect(r.repeatRuns, `${lane}: more than one repeated stretch in one container`).toBeLessThanOrEqual(1);
    // And that stretch is at most one write: as many messages as one batch (1 MiB, the default) holds.
    const stats = receivers[lane].stats();
    expect(r.duplicated, `${lane}: more repeated lines than one write holds`).toBeLessThanOrEqual(Math.ceil(1_048_576 / (stats.bytes / stats.messages)) + 1);
    if (!LANES[lane].readRate) expect(r.outOfOrder, `${lane}: order`).toBe(0);
  }
});
