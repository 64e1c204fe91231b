/**
 * Crash safety: the shipper is kill -9'd six times while containers log continuously, and a container is created,
 * logs and exits while the shipper is down. Afterwards the independent receiver must hold every line exactly once.
 * Both read modes run side by side on the same containers (one shipper process and one receiver per mode, killed
 * together), so covering both costs no extra wall time.
 *
 * Nothing may be lost and nothing repeated: over plain TCP the shipper writes to the socket's descriptor itself, so
 * it knows which messages the kernel holds whole (and will deliver even after a kill -9) and commits exactly those.
 * The remaining window, between a write syscall and the cursor rename, is a few microseconds per batch. One
 * receiver reads slower than the containers write, so its shipper's kills land while the kernel holds part of a batch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, ensureBuild, startShipper, until, type ShipperProcess } from './shipper-support.js';

const MODES = ['api', 'file'] as const;
type Mode = (typeof MODES)[number];
/**
 * Bytes/s the receiver reads. A slow receiver still drains the killed shipper's connection while the restarted one
 * sends on a new connection, and it reads both at once (as Graylog does): lines then arrive out of order across the
 * kill, which GELF's timestamps put right. Order is asserted where the receiver keeps up.
 */
const SLOW_RECEIVER: Record<Mode, number> = { api: 0, file: 1_500_000 };
let engine: PrivateEngine;
const receivers = {} as Record<Mode, GelfReceiver>;
const shippers: Partial<Record<Mode, ShipperProcess>> = {};
const image = 'swarmwatch-test/busybox:1';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-kill-'));

beforeAll(async () => {
  ensureBuild();
  engine = await startEngine({ name: 'shipkill' });
  await ensureBusyboxImage(engine);
  // The file-mode receiver reads slower than the containers write (≈2 MB/s): that shipper works against
  // backpressure, where a kill finds a batch partly in the kernel. The api-mode receiver keeps up.
  for (const mode of MODES) receivers[mode] = await startGelfReceiver({ proto: 'tcp', dir: work, readRate: SLOW_RECEIVER[mode] });
});

afterAll(async () => {
  for (const mode of MODES) await shippers[mode]?.stop().catch(() => undefined);
  for (const mode of MODES) await receivers[mode]?.stop();
  await engine?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

it('loses nothing and repeats nothing across six kill -9 restarts, including a container that lived only while the shipper was down (read modes api and file)', async () => {
  const args = (mode: Mode) => [`--shipper.destination=tcp://127.0.0.1:${receivers[mode].port}`, `--shipper.state-dir=${path.join(work, `state-${mode}`)}`, `--shipper.read-mode=${mode}`];
  const start = async (mode: Mode) => { shippers[mode] = await startShipper(engine.dockerHost, args(mode), path.join(work, `shipper-${mode}.log`)); };
  await Promise.all(MODES.map(start));
  const expected: Record<string, number> = {};
  // Three containers at ≈2,000 lines/s each for ≈15 s.
  for (let i = 0; i < 3; i++) {
    expected[`stream-${i}`] = 30_000;
    await engine.docker(['run', '-d', '--network', 'none', '--name', `stream-${i}`, image, 'sh', '-c', counterScript(`s${i}`, 30_000, 200, 100_000)]);
  }
  let kills = 0;
  for (let round = 1; round <= 6; round++) {
    await new Promise((r) => setTimeout(r, 1200 + Math.floor(Math.random() * 800)));
    await Promise.all(MODES.map((mode) => shippers[mode]!.kill9()));
    kills++;
    if (round === 3) {
      expected['while-down'] = 500;
      await engine.docker(['run', '--network', 'none', '--name', 'while-down', image, 'sh', '-c', counterScript('w', 500)]);
    }
    await Promise.all(MODES.map(start));
  }
  expect(kills).toBeGreaterThanOrEqual(5);
  await engine.docker(['wait', 'stream-0', 'stream-1', 'stream-2'], { timeoutMs: 60_000 });
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  await until(`${total} messages in both modes`, () => MODES.every((mode) => receivers[mode].stats().messages >= total), 60_000, 500)
    .catch((err) => { for (const mode of MODES) console.log(mode, receivers[mode].stats(), checkSequences(receivers[mode].messages(), expected)); throw err; });
  await new Promise((r) => setTimeout(r, 2000)); // room for duplicates to show up
  const results = Object.fromEntries(MODES.map((mode) => {
    const msgs = receivers[mode].messages();
    const result = checkSequences(msgs, expected);
    console.log(`kill -9 x${kills} (read-mode ${mode}): received ${msgs.length} of ${total}`, result);
    return [mode, { ...result, received: msgs.length }];
  }));
  for (const mode of MODES) {
    const r = results[mode]!;
    expect({ lost: r.lost, duplicated: r.duplicated, received: r.received }, `read-mode ${mode}`).toEqual({ lost: 0, duplicated: 0, received: total });
    if (!SLOW_RECEIVER[mode]) expect(r.outOfOrder, `read-mode ${mode}: order`).toBe(0);
  }
});
