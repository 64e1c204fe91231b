/**
 * The log shipper against a real engine and an independent GELF receiver (Python stdlib): exactly-once delivery of
 * 100,000 lines from 10 containers over TCP, 16 KiB rejoin and 1 MiB truncation, and field parity with Docker's own
 * gelf log driver on the same container output.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerAccess } from '../../core/docker/access.js';
import { createLogger } from '../../core/log.js';
import { containerFromInspect } from '../../core/state/convert.js';
import { SwarmState } from '../../core/state/model.js';
import { detectLayout } from '../../core/cgroup/layout.js';
import { parseProcCgroup } from '../../core/cgroup/proc-cgroup.js';
import type { LogRecord } from '../../log-shipper/assembler.js';
import { cpuSharesFor, keepRaisingOwnCpuWeight, raiseOwnCpuWeight, type OwnCpuWeightOutcome } from '../../log-shipper/own-cpu-weight.js';
import { ContainerReader } from '../../log-shipper/reader.js';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, ensureBuild, startShipper, until, type ShipperProcess } from './shipper-support.js';

let engine: PrivateEngine;
let image: string;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-it-'));
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ensureBuild();
  engine = await startEngine({ name: 'ship' });
  image = await ensureBusyboxImage(engine).then(() => 'swarmwatch-test/busybox:1');
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await engine?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

async function receiver(proto: 'tcp' | 'udp'): Promise<GelfReceiver> {
  const r = await startGelfReceiver({ proto, dir: work });
  cleanups.push(() => r.stop());
  return r;
}

async function shipper(args: string[]): Promise<ShipperProcess> {
  const s = await startShipper(engine.dockerHost, args, path.join(work, 'shipper.log'));
  cleanups.push(() => s.stop());
  return s;
}

const stateDir = (name: string) => path.join(work, `state-${name}`);

describe('log shipper on a real engine', () => {
  for (const mode of ['api', 'file'] as const) it(`delivers 100,000 lines from 10 containers over TCP exactly once and in per-container order (read-mode ${mode})`, async () => {
    const r = await receiver('tcp');
    const s = await shipper([`--shipper.destination=tcp://127.0.0.1:${r.port}`, `--shipper.state-dir=${stateDir(`100k-${mode}`)}`, `--shipper.include-names=^${mode}100k-`, `--shipper.read-mode=${mode}`]);
    const expected: Record<string, number> = {};
    await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      expected[`${mode}100k-${i}`] = 10_000;
      await engine.docker(['run', '-d', '--network', 'none', '--name', `${mode}100k-${i}`, image, 'sh', '-c', counterScript(`c${i}`, 10_000)]);
    }));
    await until('100,000 messages', () => r.stats().messages >= 100_000, 120_000, 500).catch((err) => { const per: Record<string, number> = {}; for (const m of r.messages()) per[String(m._container_name)] = (per[String(m._container_name)] ?? 0) + 1; console.log(r.stats(), per, checkSequences(r.messages(), expected), fs.readFileSync(path.join(work, 'shipper.log'), 'utf8').slice(-3000)); throw err; });
    await new Promise((res) => setTimeout(res, 1500)); // would-be duplicates get time to show up
    const msgs = r.messages();
    expect(msgs.length).toBe(100_000);
    expect(checkSequences(msgs, expected)).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
    expect(r.stats().connections).toBe(1);
    await s.stop();
  });

  it('read-mode file follows rotations and reads gzipped rotated files, every line once', async () => {
    const rotate = ['--log-opt', 'max-size=100k', '--log-opt', 'max-file=60', '--log-opt', 'compress=true'];
    // Written completely (into ~15 rotated, gzipped files) before the shipper starts.
    await engine.docker(['run', '--network', 'none', '--name', 'rot-before', ...rotate, image, 'sh', '-c', counterScript('b', 20_000)]);
    const r = await receiver('tcp');
    const s = await shipper([`--shipper.destination=tcp://127.0.0.1:${r.port}`, `--shipper.state-dir=${stateDir('rotate')}`, '--shipper.include-names=^rot-', '--shipper.read-mode=file']);
    // Rotating while the shipper follows it.
    await engine.docker(['run', '-d', '--network', 'none', '--name', 'rot-live', ...rotate, image, 'sh', '-c', counterScript('l', 20_000, 1000, 50_000)]);
    await until('40,000 messages', () => r.stats().messages >= 40_000, 60_000, 500).catch((err) => { const seen: Record<string, Set<number>> = {}; for (const m of r.messages()) (seen[String(m._container_name)] ??= new Set()).add(Number(String(m.short_message).split(' ')[1])); for (const [n, set] of Object.entries(seen)) { const gaps: string[] = []; let st = -1; for (let i = 0; i <= 20_000; i++) { const miss = i < 20_000 && !set.has(i); if (miss && st < 0) st = i; if (!miss && st >= 0) { gaps.push(`${st}-${i - 1}`); st = -1; } } console.log(n, set.size, gaps.join(' ')); } throw err; });
    await new Promise((res) => setTimeout(res, 1000));
    expect(checkSequences(r.messages(), { 'rot-before': 20_000, 'rot-live': 20_000 })).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
    expect(s.stderr()).not.toMatch(/cannot read/);
    await s.stop();
  });

  // A TTY's terminal ends lines with \r\n and its log stream marks no 16 KiB piece: the same message is expected.
  // The local driver's logs API writes the last piece of a cut line without its newline (RawLineDecoder,
  // endLocalDriverLine).
  for (const [mode, tty, driver] of [['file', false, 'json-file'], ['api', false, 'json-file'], ['api', true, 'json-file'], ['file', true, 'json-file'], ['api', true, 'local'], ['api', false, 'local']] as const) it(`ships a 20 KB line as one identical message and truncates a 1.2 MiB line to 1 MiB, marked (read-mode ${mode}${tty ? ', TTY' : ''}${driver === 'local' ? ', local driver' : ''})`, async () => {
    const name = `biglines-${mode}${tty ? '-tty' : ''}${driver === 'local' ? '-local' : ''}`;
    const data = path.join(work, name);
    fs.mkdirSync(data, { recursive: true });
    const line20k = randomBytes(15_000).toString('base64'); // 20,000 chars: the engine splits it at 16 KiB
    const line1m = randomBytes(900_000).toString('base64'); // 1,200,000 chars
    // Read-mode file copies a complete line's text as the engine escaped it: quotes, backslashes (one ending the
    // line), the engine's \u003c-style escapes and a tab must arrive as printed.
    const tricky = 'tricky "q" back\\slash <b>&amp; tab\there, ends with \\';
    fs.writeFileSync(path.join(data, 'lines.txt'), `${line20k}\n${line1m}\nafter é ünïcödé\n${tricky}\n`);
    const r = await receiver('tcp');
    const s = await shipper([`--shipper.destination=tcp://127.0.0.1:${r.port}`, `--shipper.state-dir=${stateDir(name)}`, `--shipper.include-names=^${name}$`, `--shipper.read-mode=${mode}`]);
    await engine.docker(['run', '-d', ...(tty ? ['-t'] : []), '--log-driver', driver, '--network', 'none', '--name', name, '-v', `${data}:/data:ro`, image, 'cat', '/data/lines.txt']);
    await until('4 messages', () => r.stats().messages >= 4, 30_000);
    await new Promise((res) => setTimeout(res, 500)); // pieces shipped as messages of their own would show up
    expect(r.messages().map((m) => String(m.short_message).length)).toEqual([20_000, 1_048_576, 15, tricky.length]);
    const [a, b, c, d] = r.messages();
    expect(a!.short_message).toBe(line20k);
    expect(a).not.toHaveProperty('_swarmwatch_truncated_bytes');
    expect(b!.short_message).toBe(line1m.slice(0, 1_048_576));
    expect(b!._swarmwatch_truncated_bytes).toBe(1_200_000);
    expect(c!.short_message).toBe('after é ünïcödé');
    expect(d!.short_message).toBe(tricky);
    const metrics = await fetch(s.stderr().match(/SHIPPER READY (\S+)/)![1] + '/metrics').then((res) => res.text());
    if (!/swarmwatch_shipper_lines_total\{service=""\} 4/.test(metrics)) console.log(metrics.split('\n').filter((l) => l.includes('shipper')).join('\n'));
    expect(metrics).toMatch(/swarmwatch_shipper_truncated_total\{reason="max_message_size"\} 1/);
    expect(metrics).toMatch(/swarmwatch_shipper_lines_total\{service=""\} 4/);
    expect(metrics).toMatch(new RegExp(`swarmwatch_shipper_lag_seconds\\{container_name="${name}",service=""\\}`));
    await s.stop();
  });

  it('ships a long line of a local-driver TTY container that then stays quiet, without waiting for its next line (read-mode api)', async () => {
    const name = 'quiet-local-tty';
    const data = path.join(work, name);
    fs.mkdirSync(data, { recursive: true });
    const line20k = randomBytes(15_000).toString('base64');
    fs.writeFileSync(path.join(data, 'line.txt'), `${line20k}\n`);
    const r = await receiver('tcp');
    const s = await shipper([`--shipper.destination=tcp://127.0.0.1:${r.port}`, `--shipper.state-dir=${stateDir(name)}`, `--shipper.include-names=^${name}$`, '--shipper.read-mode=api']);
    await engine.docker(['run', '-d', '-t', '--log-driver', 'local', '--network', 'none', '--name', name, '-v', `${data}:/data:ro`, image, 'sh', '-c', 'cat /data/line.txt; sleep 60']);
    // The engine writes the line's last piece without a newline and nothing follows for a minute.
    await until('the long line', () => r.stats().messages >= 1, 10_000);
    expect(r.messages().map((m) => m.short_message)).toEqual([line20k]);
    expect((await engine.docker(['inspect', '-f', '{{.State.Running}}', name])).stdout.trim()).toBe('true');
    await engine.docker(['rm', '-f', name]);
    await s.stop();
  });

  it('reads a started container the state model still calls "created" (its start event late, as in a burst of starts), read-mode api', async () => {
    const name = 'late-start-api';
    const id = (await engine.docker(['create', '--network', 'none', '--name', name, image, 'sh', '-c', 'echo first; sleep 60'])).stdout.trim();
    const docker = new DockerAccess({ host: engine.dockerHost, timeoutMs: 5000, clusterTimeoutMs: 5000 });
    // The model's picture stays the create-time inspect: no start event reaches this reader.
    const created = containerFromInspect(await docker.inspectContainer(id));
    expect(created.state).toBe('created');
    const got: string[] = [];
    const reader = new ContainerReader(id, undefined, {
      docker, log: createLogger('test'), container: () => created, maxBytes: 1 << 20, multilineTimeoutMs: 1000,
      deliver: (r: LogRecord) => { got.push(...r.lines); return true; },
      drained: () => Promise.resolve(), onDropped: () => undefined, acquireCatchUp: () => Promise.resolve(() => undefined),
    });
    cleanups.push(() => reader.stop());
    reader.start();
    await new Promise((r) => setTimeout(r, 300)); // the reader has asked once and found a container that never ran
    await engine.docker(['start', name]);
    await until('the line of the started container', () => got.length >= 1, 10_000);
    expect(got).toEqual(['first']);
    await reader.stop();
    await engine.docker(['rm', '-f', name]);
  });

  it('sends every key Docker\'s gelf driver sends for the same container output, with the same values', async () => {
    const driverRx = await receiver('udp');
    const ourRx = await receiver('udp');
    const s = await shipper([`--shipper.destination=udp://127.0.0.1:${ourRx.port}`, `--shipper.state-dir=${stateDir('parity')}`, '--shipper.include-names=^parity$', '--shipper.labels=team', '--shipper.env=MODE']);
    // The driver sends to its receiver; the engine's dual-logging cache lets our shipper read the same lines.
    await engine.docker(['run', '-d', '--network', 'none', '--name', 'parity', '--label', 'team=ops', '-e', 'MODE=prod',
      '--log-driver', 'gelf', '--log-opt', `gelf-address=udp://127.0.0.1:${driverRx.port}`, '--log-opt', 'labels=team', '--log-opt', 'env=MODE',
      image, 'sh', '-c', 'echo "parity out"; echo "parity err" >&2; sleep 1']);
    await until('driver and shipper messages', () => driverRx.stats().messages >= 2 && ourRx.stats().messages >= 2, 30_000);
    const key = (m: Record<string, unknown>) => String(m.short_message);
    const driver = new Map(driverRx.messages().map((m) => [key(m), m]));
    const ours = new Map(ourRx.messages().map((m) => [key(m), m]));
    for (const line of ['parity out', 'parity err']) {
      const d = driver.get(line)!;
      const o = ours.get(line)!;
      expect(d, `driver sent "${line}"`).toBeDefined();
      expect(o, `shipper sent "${line}"`).toBeDefined();
      for (const k of Object.keys(d)) {
        expect(o, `our message lacks ${k}`).toHaveProperty([k]);
        // The driver rounds timestamps to milliseconds; we keep the engine's nanoseconds.
        if (k === 'timestamp') expect(Math.abs((o[k] as number) - (d[k] as number))).toBeLessThan(0.0015);
        else expect(o[k], `value of ${k}`).toEqual(d[k]);
      }
    }
    await s.stop();
  });
});

describe('the CPU weight the shipper gives itself (shipper.cpu-weight)', () => {
  const layout = detectLayout('/');
  const v2 = layout.mode === 'v2';
  const cpuBase = (v2 ? layout.unified : layout.v1.cpu)!;
  const weightFile = v2 ? 'cpu.weight' : 'cpu.shares';
  /** 8x a container's default weight, as the kernel shows it. */
  const raised = v2 ? 800 : 8192;
  /** The CPU weight file of a process's cgroup, as the kernel has it. */
  const weightFileOf = (pid: number) => {
    const cgroups = parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    return path.join(cpuBase, (v2 ? cgroups.unified : cgroups.v1.get('cpu'))!, weightFile);
  };

  it('in a container: through the engine, which writes it to the container\'s cgroup and shows it in docker inspect', async () => {
    const docker = new DockerAccess({ host: engine.dockerHost, timeoutMs: 10_000, clusterTimeoutMs: 10_000 });
    cleanups.push(async () => docker.close());
    const id = (await engine.docker(['run', '-d', '--network', 'none', '--name', 'cpuweight', image, 'sleep', '300'])).stdout.trim();
    cleanups.push(() => engine.docker(['rm', '-f', 'cpuweight']));
    const outcome = await raiseOwnCpuWeight(8, { docker, selfId: id });
    expect(outcome).toEqual({ set: 'container', id, cpuShares: cpuSharesFor(8, v2) });
    const inspect = await docker.inspectContainer(id) as unknown as { HostConfig: { CpuShares: number }; State: { Pid: number } };
    expect(inspect.HostConfig.CpuShares).toBe(cpuSharesFor(8, v2));
    expect(fs.readFileSync(weightFileOf(inspect.State.Pid), 'utf8').trim()).toBe(String(raised));
    // A container the engine does not know: the engine's answer, named, and nothing thrown.
    const refused = await raiseOwnCpuWeight(8, { docker, selfId: 'f'.repeat(64) });
    expect(refused).toEqual({ set: 'none', why: expect.stringMatching(/No such container/i) });
  });

  it('in a container whose engine cannot be reached at start: tries again when the state model finds the engine answering; a refusal is final', async () => {
    const id = (await engine.docker(['run', '-d', '--network', 'none', '--name', 'cpuweight-late', image, 'sleep', '300'])).stdout.trim();
    cleanups.push(() => engine.docker(['rm', '-f', 'cpuweight-late']));
    // The engine's socket appears at this path only after the first try (an engine still starting, a mount not there yet).
    const late = path.join(work, 'late.sock');
    const docker = new DockerAccess({ host: `unix://${late}`, timeoutMs: 10_000, clusterTimeoutMs: 10_000 });
    const state = new SwarmState(docker, createLogger('test'), { reconcileIntervalMs: 60_000, clusterRefreshMs: 60_000, watchTasks: false });
    cleanups.push(async () => { state.stop(); docker.close(); });
    await state.start();
    expect(state.engine.up).toBe(false);
    const seen: { outcome: OwnCpuWeightOutcome; attempt: number }[] = [];
    const end = keepRaisingOwnCpuWeight(4, { docker, selfId: id }, (outcome, attempt) => seen.push({ outcome, attempt }), state);
    cleanups.push(async () => end());
    await until('the first try', () => seen.length >= 1, 10_000, 20);
    expect(seen[0]).toEqual({ outcome: { set: 'none', why: expect.stringContaining(late), retry: true }, attempt: 1 });
    fs.symlinkSync(engine.socketPath, late);
    // The model's own retry of the engine (1 s, then doubling) finds it; the weight follows.
    await until('the weight raised', () => seen.at(-1)!.outcome.set === 'container', 20_000, 50);
    // Either of the model's findings can come first: its retried reconciliation (engine up) or a container event
    // from its events stream, which reconnects on a schedule of its own (seen first on a loaded machine).
    await until('the state model finds the engine up', () => state.engine.up, 20_000, 50);
    expect(seen.at(-1)).toEqual({ outcome: { set: 'container', id, cpuShares: cpuSharesFor(4, v2) }, attempt: seen.length });
    const inspect = await docker.inspectContainer(id) as unknown as { HostConfig: { CpuShares: number } };
    expect(inspect.HostConfig.CpuShares).toBe(cpuSharesFor(4, v2));
    expect(state.listenerCount('engine') + state.listenerCount('containers'), 'listeners left after success').toBe(0);

    // A container the engine does not know: refused, asked once, no listener left behind.
    const refused: OwnCpuWeightOutcome[] = [];
    keepRaisingOwnCpuWeight(4, { docker, selfId: 'f'.repeat(64) }, (outcome) => refused.push(outcome), state);
    await until('the refusal', () => refused.length >= 1, 10_000, 20);
    await engine.docker(['run', '--rm', '--network', 'none', image, 'true']);
    await new Promise((r) => setTimeout(r, 500));
    expect(refused).toEqual([{ set: 'none', why: expect.stringMatching(/No such container/i) }]);
    expect(state.listenerCount('engine') + state.listenerCount('containers'), 'listeners left after a refusal').toBe(0);
  });

  it('outside a container: its own cgroup when it is alone in it, never a cgroup it shares', async () => {
    const dir = path.join(cpuBase, `swarmwatch-test-cpuweight-${randomBytes(3).toString('hex')}`);
    fs.mkdirSync(dir);
    cleanups.push(async () => { await until('the test cgroup empty', () => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '', 10_000); fs.rmdirSync(dir); });
    const moduleUrl = new URL('../../dist/log-shipper/own-cpu-weight.js', import.meta.url).href;
    // A real process that moves itself into the cgroup, then asks for its weight as the shipper does at start.
    const raiseFromInside = () => execFileSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec "${process.execPath}" --input-type=module -e "const m = await import('${moduleUrl}'); console.log(JSON.stringify(await m.raiseOwnCpuWeight(8, { docker: undefined, selfId: undefined })))"`], { encoding: 'utf8' });
    const before = fs.readFileSync(path.join(dir, weightFile), 'utf8').trim();

    const other = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec sleep 30`], { stdio: 'ignore' });
    cleanups.push(async () => other.kill('SIGKILL'));
    await until('the other process in the cgroup', () => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').includes(String(other.pid)), 10_000);
    const shared = JSON.parse(raiseFromInside());
    expect(shared).toEqual({ set: 'none', why: expect.stringContaining(`pid ${other.pid}`) });
    expect(fs.readFileSync(path.join(dir, weightFile), 'utf8').trim()).toBe(before);
    other.kill('SIGKILL');
    await until('the other process gone', () => !fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').includes(String(other.pid)), 10_000);

    const alone = JSON.parse(raiseFromInside());
    expect(alone).toEqual({ set: 'cgroup', file: path.join(dir, weightFile), value: raised });
    expect(fs.readFileSync(path.join(dir, weightFile), 'utf8').trim()).toBe(String(raised));
  });
});
