// How long the kill -9 window is open while containers log steadily, per shipper.batch-wait setting: the stream of
// the kill test (test/integration/shipper-restarts.test.ts: 3 containers, 200 lines at once every 100 ms each,
// ≈ 2,000 lines/s each), read-mode api, plain TCP to a receiver that keeps up; every setting's shipper runs at the
// same time on the same containers, each with its own receiver and state dir. No kill: the preloaded probe
// (kill-window-probe.mjs) times each window. Also prints each shipper's CPU.
// Usage: npm run build && node bench/scripts/kill-window.mjs [seconds, default 20]
//   WAITS="0 25ms 100ms"   shipper.batch-wait values to compare (default "0 100ms")
//   MODE=file              read-mode (default api)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLOCK_TICKS_PER_SECOND, ensureBusyboxImage, readProcStat, startEngine } from '../../dist/test/bed/index.js';
import { startGelfReceiver } from '../../dist/test/receivers/gelf-receiver.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('./kill-window-probe.mjs', import.meta.url));
const RUNNER = path.join(ROOT, 'test/fixtures/shipper/run-shipper.mjs');
const seconds = Number(process.argv[2] ?? 20);
const waits = (process.env.WAITS ?? '0 100ms').split(/\s+/).filter(Boolean);
const mode = process.env.MODE ?? 'api';
const image = 'swarmwatch-test/busybox:1';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-kill-window-'));
const cpuSeconds = (pid) => { const s = readProcStat(pid); return (s.utime + s.stime) / CLOCK_TICKS_PER_SECOND; };

const engine = await startEngine({ name: 'killwindow' });
const runs = [];
try {
  await ensureBusyboxImage(engine, image);
  for (const wait of waits) {
    const receiver = await startGelfReceiver({ proto: 'tcp', dir: work, countOnly: true });
    const child = spawn(process.execPath, ['--import', PROBE, RUNNER, ROOT, `--docker.host=${engine.dockerHost}`, '--http.listen=127.0.0.1:0',
      `--shipper.destination=tcp://127.0.0.1:${receiver.port}`, `--shipper.state-dir=${path.join(work, `state-${wait}`)}`, `--shipper.read-mode=${mode}`, `--shipper.batch-wait=${wait}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d.toString(); });
    runs.push({ wait, receiver, child, stderr: () => stderr });
  }
  for (const r of runs) while (!r.stderr().includes('SHIPPER READY')) await new Promise((res) => setTimeout(res, 50));
  const script = (tag) => `i=0; while :; do echo "${tag} $i"; i=$((i+1)); if [ $((i % 200)) -eq 0 ]; then [ -e /tmp/stop ] && break; usleep 100000; fi; done`;
  for (let i = 0; i < 3; i++) await engine.docker(['run', '-d', '--network', 'none', '--name', `stream-${i}`, image, 'sh', '-c', script(`s${i}`)]);
  await new Promise((res) => setTimeout(res, 3000));
  for (const r of runs) r.cpu0 = cpuSeconds(r.child.pid);
  const t0 = Date.now();
  for (const r of runs) r.child.kill('SIGUSR2');
  await new Promise((res) => setTimeout(res, seconds * 1000));
  for (const r of runs) { r.cpu = cpuSeconds(r.child.pid) - r.cpu0; r.child.kill('SIGUSR2'); }
  const wall = (Date.now() - t0) / 1000;
  await new Promise((res) => setTimeout(res, 300));
  console.log(`kill window, read-mode ${mode}, TCP, 3 containers ≈ 2,000 lines/s each, ${wall.toFixed(1)} s measured after a 3 s settle\n`);
  console.log('| shipper.batch-wait | writes/s | KiB per write | µs per window (write start → commit) | window open | shipper CPU ms/s | messages received |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs) {
    const probes = [...r.stderr().matchAll(/KILL-WINDOW (\{.*\})/g)].map((m) => JSON.parse(m[1]));
    const [a, b] = probes.slice(-2);
    const writes = b.socketWrites - a.socketWrites;
    const windows = b.windows - a.windows;
    const windowMs = b.windowMs - a.windowMs;
    const span = b.wallS - a.wallS;
    console.log(`| ${r.wait} | ${(writes / span).toFixed(0)} | ${((b.socketBytes - a.socketBytes) / Math.max(1, writes) / 1024).toFixed(1)} | ${((windowMs * 1000) / Math.max(1, windows)).toFixed(0)} | ${((100 * windowMs) / (span * 1000)).toFixed(2)} % | ${((r.cpu / wall) * 1000).toFixed(1)} | ${r.receiver.stats().messages} |`);
  }
} finally {
  for (const r of runs) { r.child.kill('SIGKILL'); await r.receiver.stop().catch(() => undefined); }
  await engine.stop().catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
}
