/**
 * Crash safety: the shipper is kill -9'd six times while containers log continuously, and a container is created,
 * logs and exits while the shipper is down. Afterwards the independent receiver must hold every line.
 * Three shippers run side by side on the same containers, each with its own receiver and all killed together (so
 * covering them costs no extra wall time): read-mode api and read-mode file over TCP, and read-mode file over TLS.
 * The containers write until the last restarted shipper is at work: on a slow runner the kills take longer, and a
 * stream of fixed length once ended before them. What each wrote is what its engine recorded (`docker logs`).
 *
 * Nothing may be lost. Repeats: over plain TCP the shipper writes to the socket's descriptor itself, so it knows
 * which messages the kernel holds whole (and will deliver even after a kill -9) and commits exactly those; over
 * TLS it writes one record of whole messages at a time and commits them once that record is in the kernel. The
 * commit is one small journal write right after the write syscall. A kill that lands between the two repeats what
 * that write carried: GELF has no acknowledgements, so no sender can close that window, only keep it short. It is
 * microseconds of work, but the write wakes the receiver and the scheduler often switches to it right there, so
 * how often a kill finds the shipper in the window depends on the machine's load: on this 2-core machine 0 of 60
 * lane-kills beside a busy loop, 1 of 60 with everything on one core; on a CI runner at least 3 of 18 (two in one lane).
 * So the test asserts what the design guarantees, per kill: the receiver stamps each line with its connection (one
 * per shipper process), and the lines a killed process sent that came again are at most one write (1 MiB, the
 * default batch); no line comes twice on one connection; and at most half the kills repeat anything. Before
 * exactly-once commits every kill under backpressure repeated part of a batch (308 and 321 lines per run over
 * TCP, ≈ 4,000 over TLS). Two receivers read slower than the containers write, so their shippers' kills land while
 * the kernel holds part of a batch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, countLoggedLines, counterScript, ensureBuild, expectOnlyInterruptedWritesRepeated, repeatsByConnection, selfSignedCert, startShipper, streamUntilStopScript, until, type ShipperProcess } from './shipper-support.js';

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
const KILL_ROUNDS = 6;
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
    receivers[lane] = await startGelfReceiver({ proto, dir: work, readRate, stampConnection: true, ...(proto === 'tls' ? tls : {}) });
  }
});

afterAll(async () => {
  for (const lane of lanes) await shippers[lane]?.stop().catch(() => undefined);
  for (const lane of lanes) await receivers[lane]?.stop();
  await engine?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

/** On a failure: each lane's receiver counts and the end of its shipper's log (the work dir is removed after). */
function showLanes(kills: number): void {
  for (const lane of lanes) {
    const log = fs.readFileSync(path.join(work, `shipper-${lane}.log`), 'utf8').split('\n').slice(-25).join('\n');
    console.log(`${lane} after ${kills} kills:`, receivers[lane].stats(), `\n${log}`);
  }
}

function shipperArgs(lane: Lane): string[] {
  const { readMode, proto } = LANES[lane];
  const args = [`--shipper.destination=${proto}://127.0.0.1:${receivers[lane].port}`, `--shipper.state-dir=${path.join(work, `state-${lane}`)}`, `--shipper.read-mode=${readMode}`];
  return proto === 'tls' ? [...args, `--shipper.tls-ca=${tls.cert}`] : args;
}

it('loses nothing and repeats at most the interrupted write across six kill -9 restarts, including a container that lived only while the shipper was down (read modes api and file over TCP, file over TLS)', async () => {
  const start = async (lane: Lane) => { shippers[lane] = await startShipper(engine.dockerHost, shipperArgs(lane), path.join(work, `shipper-${lane}.log`)); };
  const connected = async (kills: number) => {
    await until('every lane\'s current shipper connected', () => lanes.every((lane) => receivers[lane].stats().connections >= 1 + kills), 30_000, 50)
      .catch((err) => { showLanes(kills); throw err; });
  };
  await Promise.all(lanes.map(start));
  // Three containers at ≈2,000 lines/s each, until every kill is done and the last shipper is at work.
  const streams = ['stream-0', 'stream-1', 'stream-2'];
  for (const [i, name] of streams.entries()) await engine.docker(['run', '-d', '--network', 'none', '--name', name, image, 'sh', '-c', streamUntilStopScript(`s${i}`)]);
  let kills = 0;
  for (let round = 1; round <= KILL_ROUNDS; round++) {
    await new Promise((r) => setTimeout(r, 1200 + Math.floor(Math.random() * 800)));
    // Every kill lands on a shipper at work: every lane's current one has connected (on a loaded 2-core runner an
    // api-mode shipper once took longer than the 1.2 s above to send anything).
    await connected(kills);
    await Promise.all(lanes.map((lane) => shippers[lane]!.kill9()));
    kills++;
    if (round === 3) await engine.docker(['run', '--network', 'none', '--name', 'while-down', image, 'sh', '-c', counterScript('w', 500)]);
    await Promise.all(lanes.map(start));
  }
  await connected(kills);
  await new Promise((r) => setTimeout(r, 1000));
  for (const name of streams) await engine.docker(['exec', name, 'sh', '-c', ': > /tmp/stop']);
  await engine.docker(['wait', ...streams], { timeoutMs: 60_000 });
  const expected: Record<string, number> = { 'while-down': 500 };
  for (const name of streams) expected[name] = await countLoggedLines(engine, name);
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  // The slow receivers drain their backlog at their read rate (≈ 530 bytes a message), then 30 s to spare.
  const drainMs = 30_000 + (total * 530 * 1000) / Math.min(...lanes.map((lane) => LANES[lane].readRate || Infinity));
  await until(`${total} messages in every lane`, () => lanes.every((lane) => receivers[lane].stats().messages >= total), drainMs, 500)
    .catch((err) => { for (const lane of lanes) console.log(lane, receivers[lane].stats(), checkSequences(receivers[lane].messages(), expected)); throw err; });
  await new Promise((r) => setTimeout(r, 2000)); // room for duplicates to show up
  const results = Object.fromEntries(lanes.map((lane) => {
    const msgs = receivers[lane].messages();
    const result = checkSequences(msgs, expected);
    const repeats = repeatsByConnection(msgs);
    console.log(`kill -9 x${kills} (${lane}): received ${msgs.length} of ${total}`, result, 'kills that repeated lines:', repeats.byConn);
    return [lane, { ...result, ...repeats, received: msgs.length }];
  }));
  for (const lane of lanes) {
    const r = results[lane]!;
    expect({ lost: r.lost, received: r.received - r.duplicated }, lane).toEqual({ lost: 0, received: total });
    expectOnlyInterruptedWritesRepeated(r, receivers[lane].stats(), lane);
    // Every kill that repeated lines was announced at the next start, with at least as many lines as it repeated.
    const announced = announcedRepeats(fs.readFileSync(path.join(work, `shipper-${lane}.log`), 'utf8'));
    console.log(`kill -9 x${kills} (${lane}): starts that announced a write in flight: ${JSON.stringify(announced)}; kills that repeated lines: ${JSON.stringify(r.byConn.map((k) => k.repeated))}`);
    expect(unannounced(r.byConn.map((k) => k.repeated), announced), `${lane}: repeats no start announced`).toEqual([]);
    if (!LANES[lane].readRate) expect(r.outOfOrder, `${lane}: order`).toBe(0);
  }
  // How often a kill lands in that window depends on the machine's load (module comment); committing after whole
  // batches repeated at every kill under backpressure.
  const repeatingKills = lanes.reduce((sum, lane) => sum + results[lane]!.byConn.length, 0);
  expect(repeatingKills, 'kills (of all lanes) that repeated lines').toBeLessThanOrEqual((kills * lanes.length) / 2);
  // 600 s: the stream lasts until the kills are done and the slow receivers drain it, both longer on a loaded
  // machine (252 s in a CI run, 368 s with three test files at once on 2 cores).
}, 600_000);

/** The line counts of the unclean-stop warnings (SW_ERR_SHIPPER_UNCLEAN_STOP) in a lane's shipper log, in order. */
function announcedRepeats(log: string): number[] {
  return [...log.matchAll(/while writing (\d+) lines to the destination.*SW_ERR_SHIPPER_UNCLEAN_STOP/g)].map((m) => Number(m[1]));
}

/**
 * The repeats (lines per kill) that no announcement covers: each is matched, largest first, with a distinct
 * announcement of at least as many lines (which start's warning belongs to which connection is not needed).
 */
function unannounced(repeats: number[], announced: number[]): number[] {
  const left = [...announced].sort((a, b) => b - a);
  const missing: number[] = [];
  for (const r of [...repeats].sort((a, b) => b - a)) {
    const i = left.findIndex((a) => a >= r);
    if (i < 0) missing.push(r); else left.splice(i, 1);
  }
  return missing;
}
