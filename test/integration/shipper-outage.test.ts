/**
 * Receiver outage over TCP: the receiver goes down for 30 s while a container keeps logging. The shipper logs one
 * clear error line, keeps retrying without crashing, holds bounded memory (the engine's log file is the buffer),
 * and after the receiver returns every line arrives. Both read modes run side by side (one shipper, receiver and
 * container per mode, the outages at the same time), so covering both costs no extra wall time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, lanesBed, startShipper, until } from './shipper-support.js';

const MODES = ['api', 'file'] as const;
const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipout');

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

it('loses nothing over TCP when the receiver is down for 30 s, with one clear error line and bounded memory (read modes api and file)', async () => {
  const { engine, receivers, shippers, work } = bed;
  const lines = 24_000;
  const runs = await Promise.all(MODES.map(async (mode) => {
    const r1 = await startGelfReceiver({ proto: 'tcp', dir: work });
    receivers.push(r1);
    const dest = `tcp://127.0.0.1:${r1.port}`;
    const name = `outage-${mode}`;
    // A small buffer so the outage exercises pausing the readers, not just queueing.
    const shipper = await startShipper(engine.dockerHost, [`--shipper.destination=${dest}`, `--shipper.state-dir=${path.join(work, `state-${mode}`)}`, `--shipper.read-mode=${mode}`,
      `--shipper.include-names=^${name}$`, '--shipper.buffer-size=262144', '--shipper.reconnect-max-delay=2s']);
    shippers.push(shipper);
    return { mode, name, r1, dest, shipper, maxRss: 0, r2: undefined as GelfReceiver | undefined };
  }));
  // ≈600 lines/s for ≈40 s, one container per mode.
  for (const run of runs) await engine.docker(['run', '-d', '--network', 'none', '--name', run.name, image, 'sh', '-c', counterScript('o', lines, 60, 100_000)]);
  await until('first lines', () => runs.every((run) => run.r1.stats().messages > 500), 20_000);
  await Promise.all(runs.map((run) => run.r1.stop()));
  const downAt = Date.now();
  while (Date.now() - downAt < 30_000) {
    for (const run of runs) run.maxRss = Math.max(run.maxRss, rssMiB(run.shipper.child.pid!));
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const run of runs) {
    run.r2 = await startGelfReceiver({ proto: 'tcp', port: run.r1.port, dir: work });
    receivers.push(run.r2);
  }
  await engine.docker(['wait', ...runs.map((run) => run.name)], { timeoutMs: 60_000 });
  const received = (run: (typeof runs)[number]) => [...run.r1.messages(), ...run.r2!.messages()].filter((m) => m._container_name === run.name).map((m) => ({ ...m, _container_name: 'outage' }));
  // Not thrown on its own: the figures and what each shipper said are printed first.
  await until('all lines after the outage', () => runs.every((run) => checkSequences(received(run), { outage: lines }).lost === 0), 60_000, 500).catch(() => undefined);
  for (const run of runs) {
    const result = checkSequences(received(run), { outage: lines });
    const errorLines = run.shipper.stderr().split('\n').filter((l) => / ERROR /.test(l));
    console.log(`receiver down 30 s (read-mode ${run.mode}): lost ${result.lost}, duplicated ${result.duplicated} (replayed after the break), max RSS ${run.maxRss.toFixed(0)} MiB; error lines:\n${errorLines.join('\n')}`);
    expect(result.lost, `read-mode ${run.mode}; the shipper said:\n${run.shipper.stderr().slice(-4000)}`).toBe(0);
    expect(errorLines, `read-mode ${run.mode}`).toHaveLength(1);
    expect(errorLines[0]).toContain(run.dest);
    expect(run.shipper.stderr()).toMatch(/delivering to tcp:\/\/127\.0\.0\.1:\d+ again after/);
    expect(run.shipper.child.exitCode).toBeNull();
    expect(run.maxRss, `read-mode ${run.mode}`).toBeLessThan(250);
  }
  // 300 s: 60 s in a CI run, 135 s with three test files at once on 2 cores (the project's default is 180 s).
}, 300_000);
