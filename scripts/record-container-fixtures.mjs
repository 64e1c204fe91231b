// Records real container inspect answers and container events from a private engine into test/fixtures/api/ (the
// state model's unit tests serve them back through a real HTTP server on a unix socket, and feed it the events).
// Usage: npm run build && node scripts/record-container-fixtures.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { startEngine, ensureBusyboxImage, BUSYBOX_TAG } from '../dist/test/bed/index.js';

const out = new URL('../test/fixtures/api/', import.meta.url);
const save = (name, body) => writeFileSync(new URL(name, out), JSON.stringify(body, null, 1) + '\n');
const engine = await startEngine({ name: 'record' });
try {
  await ensureBusyboxImage(engine);
  const id = (await engine.docker(['create', '--name', 'burst-1', '--network', 'none', BUSYBOX_TAG, 'sh', '-c', 'echo hello'])).stdout.trim();
  save('container-inspect-created.json', (await engine.api('GET', `/containers/${id}/json`)).body);
  await engine.docker(['start', id]);
  await engine.docker(['wait', id]);
  save('container-inspect-exited.json', (await engine.api('GET', `/containers/${id}/json`)).body);
  // The events of a container that exits with code 3, as the events stream delivers them (one JSON object per line).
  const since = Math.floor(Date.now() / 1000) - 1;
  const exiting = (await engine.docker(['run', '-d', '--name', 'exit-3', '--network', 'none', BUSYBOX_TAG, 'sh', '-c', 'exit 3'])).stdout.trim();
  await engine.docker(['wait', exiting]);
  const filters = encodeURIComponent(JSON.stringify({ container: [exiting] }));
  const text = String((await engine.api('GET', `/events?since=${since}&until=${Math.floor(Date.now() / 1000) + 1}&filters=${filters}`)).body);
  save('container-events-exit3.json', text.trim().split('\n').map((line) => JSON.parse(line)));
  // A running container's config.v2.json as the engine wrote it, and its start event: what the log shipper holds for a
  // container removed before its inspect answered (log-shipper/early-log-files.ts).
  const jobSince = Math.floor(Date.now() / 1000) - 1;
  const job = (await engine.docker(['run', '-d', '--network', 'none', '--name', 'job-7', '--label', 'com.example.team=ops', '--label', 'swarmwatch.multiline.pattern=^\\S',
    '-e', 'JOB_ID=7', BUSYBOX_TAG, 'sh', '-c', 'echo hi; sleep 2'])).stdout.trim();
  writeFileSync(new URL('container-config-v2-running.json', out), readFileSync(`${engine.dataRoot}/containers/${job}/config.v2.json`, 'utf8'));
  const jobFilters = encodeURIComponent(JSON.stringify({ container: [job], event: ['start'] }));
  // One event is one JSON document, which engine.api parses.
  const started = (await engine.api('GET', `/events?since=${jobSince}&until=${Math.floor(Date.now() / 1000) + 1}&filters=${jobFilters}`)).body;
  writeFileSync(new URL('container-event-start.json', out), (typeof started === 'string' ? started.trim() : JSON.stringify(started)) + '\n');
  // The events stream during a burst of 50 `docker run --rm`: the engine stamps an event before the lock that
  // publishes it, so some arrive older than one before them (core/docker/events.ts). Recorded until it happens.
  for (let attempt = 0; attempt < 5; attempt++) {
    const lines = [];
    const req = http.get({ socketPath: engine.socketPath, path: '/events' }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { buf += c; let nl; while ((nl = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); } });
    });
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all(Array.from({ length: 50 }, (_, i) => engine.docker(['run', '-d', '--rm', '--network', 'none', '--name', `burst-${attempt}-${i}`, BUSYBOX_TAG, 'sh', '-c', 'echo hi'])));
    await new Promise((r) => setTimeout(r, 5000));
    req.destroy();
    let newest = 0n;
    const late = lines.filter((l) => { const t = BigInt(/"timeNano":(\d+)/.exec(l)[1]); if (t < newest) return true; newest = t; return false; });
    if (late.length === 0) continue;
    writeFileSync(new URL('events-burst-out-of-order.jsonl', out), lines.join('\n') + '\n');
    break;
  }
} finally {
  await engine.stop();
}
