// Records real container inspect answers from a private engine into test/fixtures/api/ (the state model's unit
// tests serve them back through a real HTTP server on a unix socket).
// Usage: npm run build && node scripts/record-container-fixtures.mjs
import { writeFileSync } from 'node:fs';
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
} finally {
  await engine.stop();
}
