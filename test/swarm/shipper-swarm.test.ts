/** A Swarm service's task logs, shipped from the worker's engine, carry the Swarm fields. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { attachSwarm } from '../bed/global-swarm.js';
import { BUSYBOX_TAG, type SwarmNode, type TestSwarm } from '../bed/index.js';
import { ensureBuild, startShipper, until, type ShipperProcess } from '../integration/shipper-support.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let swarm: TestSwarm;
let leader: SwarmNode;
let receiver: GelfReceiver;
let shipper: ShipperProcess | undefined;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-swarm-'));

beforeAll(async () => {
  ensureBuild();
  swarm = attachSwarm();
  leader = await swarm.leader();
  receiver = await startGelfReceiver({ proto: 'tcp', dir: work });
});

afterAll(async () => {
  await leader?.docker(['service', 'rm', 'sw-shiplogs'], { check: false });
  await shipper?.stop();
  await receiver?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

it('adds service, task, stack and node fields to a task\'s lines', async () => {
  const worker = swarm.workers[0] ?? swarm.nodes[0]!;
  shipper = await startShipper(worker.dockerHost, [`--shipper.destination=tcp://127.0.0.1:${receiver.port}`, `--shipper.state-dir=${path.join(work, 'state')}`, '--shipper.include-names=^sw-shiplogs\\.']);
  await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'sw-shiplogs', '--constraint', `node.hostname==${worker.hostname}`,
    '--container-label', 'com.docker.stack.namespace=shop', BUSYBOX_TAG, 'sh', '-c', 'echo "task says hello"; echo "task complains" >&2; sleep 600']);
  await until('two task lines', () => receiver.stats().messages >= 2, 60_000, 500);
  const msgs = receiver.messages();
  const hello = msgs.find((m) => m.short_message === 'task says hello')!;
  expect(hello).toBeDefined();
  expect(hello).toMatchObject({
    host: worker.hostname, level: 6,
    _service_name: 'sw-shiplogs', _stack_name: 'shop', _node_id: worker.nodeId, _node_hostname: worker.hostname,
    _task_name: expect.stringMatching(/^sw-shiplogs\.1\./), _task_id: expect.stringMatching(/^\w{25}$/), _service_id: expect.stringMatching(/^\w{25}$/),
    _container_name: expect.stringMatching(/^sw-shiplogs\.1\./),
  });
  expect(msgs.find((m) => m.short_message === 'task complains')).toMatchObject({ level: 3, _service_name: 'sw-shiplogs' });
});
