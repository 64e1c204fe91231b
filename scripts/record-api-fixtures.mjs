// Records real Engine API answers from a private 3+1 swarm into test/fixtures/api/ (the unit tests' inputs).
// Usage: npm run build && node scripts/record-api-fixtures.mjs
import { writeFileSync } from 'node:fs';
import { startSwarm, BUSYBOX_TAG } from '../dist/test/bed/index.js';

const out = new URL('../test/fixtures/api/', import.meta.url);
const save = (name, body) => writeFileSync(new URL(name, out), JSON.stringify(body, null, 1) + '\n');
const swarm = await startSwarm({ subnet: '10.213.7' });
try {
  const leader = await swarm.leader(60_000);
  const worker = swarm.workers[0];
  await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'web', '--replicas', '2', BUSYBOX_TAG, 'sleep', '600']);
  await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'failer', '--restart-delay', '1s', BUSYBOX_TAG, 'sh', '-c', 'exit 3']);
  await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'hungry', '--replicas', '2', '--reserve-memory', '900G', BUSYBOX_TAG, 'sleep', '600']);
  await new Promise((r) => setTimeout(r, 8000));
  save('info-leader.json', (await leader.api('GET', '/info')).body);
  save('info-worker.json', (await worker.api('GET', '/info')).body);
  save('nodes-worker-503.json', (await worker.api('GET', '/nodes')).body);
  save('nodes-healthy.json', (await leader.api('GET', '/nodes')).body);
  save('services-status.json', (await leader.api('GET', '/services?status=true')).body);
  save('tasks.json', (await leader.api('GET', '/tasks')).body);
  const others = swarm.managers.filter((m) => m.nodeId !== leader.nodeId);
  await others[0].kill();
  await swarm.waitFor(async () => (await leader.api('GET', '/nodes')).body.some((n) => n.ManagerStatus?.Reachability === 'unreachable'), 20_000);
  save('nodes-one-manager-unreachable.json', (await leader.api('GET', '/nodes')).body);
  await others[1].kill();
  await swarm.waitFor(async () => (await leader.api('GET', '/nodes', undefined, 25_000)).status === 500, 90_000);
  save('nodes-no-leader-500.json', (await leader.api('GET', '/nodes')).body);
  save('info-leader-no-quorum.json', (await leader.api('GET', '/info', undefined, 30_000)).body);
} finally {
  await swarm.stop();
}
