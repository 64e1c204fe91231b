/**
 * Crash safety: the shipper is kill -9'd six times while containers log continuously, and a container is created,
 * logs and exits while the shipper is down. Afterwards the independent receiver must hold every line exactly once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, ensureBuild, startShipper, until, type ShipperProcess } from './shipper-support.js';

let engine: PrivateEngine;
let receiver: GelfReceiver;
let shipper: ShipperProcess | undefined;
const image = 'swarmwatch-test/busybox:1';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-kill-'));

beforeAll(async () => {
  ensureBuild();
  engine = await startEngine({ name: 'shipkill' });
  await ensureBusyboxImage(engine);
  receiver = await startGelfReceiver({ proto: 'tcp', dir: work });
});

afterAll(async () => {
  await shipper?.stop().catch(() => undefined);
  await receiver?.stop();
  await engine?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

it('loses and duplicates nothing across six kill -9 restarts, including a container that lived only while the shipper was down', async () => {
  const args = [`--shipper.destination=tcp://127.0.0.1:${receiver.port}`, `--shipper.state-dir=${path.join(work, 'state')}`];
  const log = path.join(work, 'shipper.log');
  shipper = await startShipper(engine.dockerHost, args, log);
  const expected: Record<string, number> = {};
  // Three containers at ≈2,000 lines/s each for ≈15 s.
  for (let i = 0; i < 3; i++) {
    expected[`stream-${i}`] = 30_000;
    await engine.docker(['run', '-d', '--network', 'none', '--name', `stream-${i}`, image, 'sh', '-c', counterScript(`s${i}`, 30_000, 200, 100_000)]);
  }
  let kills = 0;
  for (let round = 1; round <= 6; round++) {
    await new Promise((r) => setTimeout(r, 1200 + Math.floor(Math.random() * 800)));
    await shipper.kill9();
    kills++;
    if (round === 3) {
      expected['while-down'] = 500;
      await engine.docker(['run', '--network', 'none', '--name', 'while-down', image, 'sh', '-c', counterScript('w', 500)]);
    }
    shipper = await startShipper(engine.dockerHost, args, log);
  }
  expect(kills).toBeGreaterThanOrEqual(5);
  await engine.docker(['wait', 'stream-0', 'stream-1', 'stream-2'], { timeoutMs: 60_000 });
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  await until(`${total} messages`, () => receiver.stats().messages >= total, 60_000, 500);
  await new Promise((r) => setTimeout(r, 2000)); // room for duplicates to show up
  const msgs = receiver.messages();
  const result = checkSequences(msgs, expected);
  console.log(`kill -9 x${kills}: received ${msgs.length} of ${total}`, result);
  expect(result).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
  expect(msgs.length).toBe(total);
});
