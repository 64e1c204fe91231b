/**
 * Receiver outage over TCP: the receiver goes down for 30 s while a container keeps logging. The shipper logs one
 * clear error line, keeps retrying without crashing, holds bounded memory (the engine's log file is the buffer),
 * and after the receiver returns every line arrives.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, ensureBuild, startShipper, until, type ShipperProcess } from './shipper-support.js';

let engine: PrivateEngine;
let shipper: ShipperProcess | undefined;
const receivers: GelfReceiver[] = [];
const image = 'swarmwatch-test/busybox:1';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-outage-'));

beforeAll(async () => {
  ensureBuild();
  engine = await startEngine({ name: 'shipout' });
  await ensureBusyboxImage(engine);
});

afterAll(async () => {
  await shipper?.stop().catch(() => undefined);
  for (const r of receivers) await r.stop();
  await engine?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

it('loses nothing over TCP when the receiver is down for 30 s, with one clear error line and bounded memory', async () => {
  const r1 = await startGelfReceiver({ proto: 'tcp', dir: work });
  receivers.push(r1);
  const dest = `tcp://127.0.0.1:${r1.port}`;
  // A small buffer so the outage exercises pausing the readers, not just queueing.
  shipper = await startShipper(engine.dockerHost, [`--shipper.destination=${dest}`, `--shipper.state-dir=${path.join(work, 'state')}`, '--shipper.buffer-size=262144', '--shipper.reconnect-max-delay=2s']);
  const lines = 24_000;
  // ≈600 lines/s for ≈40 s.
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'outage', image, 'sh', '-c', counterScript('o', lines, 60, 100_000)]);
  await until('first lines', () => r1.stats().messages > 500, 20_000);
  await r1.stop();
  const downAt = Date.now();
  let maxRss = 0;
  while (Date.now() - downAt < 30_000) {
    maxRss = Math.max(maxRss, rssMiB(shipper.child.pid!));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const r2 = await startGelfReceiver({ proto: 'tcp', port: r1.port, dir: work });
  receivers.push(r2);
  await engine.docker(['wait', 'outage'], { timeoutMs: 60_000 });
  await until('all lines after the outage', () => checkSequences([...r1.messages(), ...r2.messages()], { outage: lines }).lost === 0, 60_000, 500);
  const result = checkSequences([...r1.messages(), ...r2.messages()], { outage: lines });
  const errorLines = shipper.stderr().split('\n').filter((l) => / ERROR /.test(l));
  console.log(`receiver down 30 s: lost ${result.lost}, duplicated ${result.duplicated} (replayed after the break), max RSS ${maxRss.toFixed(0)} MiB; error lines:\n${errorLines.join('\n')}`);
  expect(result.lost).toBe(0);
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toContain(dest);
  expect(shipper.stderr()).toMatch(/delivering to tcp:\/\/127\.0\.0\.1:\d+ again after/);
  expect(shipper.child.exitCode).toBeNull();
  expect(maxRss).toBeLessThan(250);
});
