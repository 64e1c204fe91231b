/**
 * HA on the real swarm: the alert engine (real CLI) runs on two managers at once, each against its own node's
 * socket — the leader L and a follower P. Kill the third manager T → only L's instance notifies (P evaluates
 * the same alert with the same fingerprint and stays quiet). Then kill L: no leader is left, and P — quiet
 * until now — notifies quorum lost by itself. Both managers are restarted and the swarm is healthy again at
 * the end (the next file gets the same cluster).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSwarm } from '../bed/global-swarm.js';
import type { SwarmNode, TestSwarm } from '../bed/index.js';
import { freePort } from '../support/agent.js';
import { readWebhooks, sleep, startAlertEngine, startWebhookReceiver, waitUntil, type Proc } from '../fixtures/alerts/harness.js';

const CLUSTER_ALERTS = ['SwarmManagerUnreachable', 'SwarmQuorumAtRisk', 'SwarmQuorumLost', 'SwarmNodeDown', 'SwarmManagerCountUnsafe', 'SwarmLeaderChanged'];

let swarm: TestSwarm;
let work: string;
let webhook: Proc;
let whPort: number;
const engines: (Proc & { url: string })[] = [];
const killed: SwarmNode[] = [];

const hooks = (instance: string) => readWebhooks(join(work, 'hooks.jsonl')).filter((h) => h.path === `/${instance}`);
const firing = (instance: string, alertname: string) => hooks(instance).filter((h) => h.payload.alerts.some((a) => a.status === 'firing' && a.labels.alertname === alertname));
interface ApiAlert { fingerprint: string; labels: Record<string, string> }
const apiAlerts = async (url: string, alertname: string) => ((await (await fetch(`${url}/api/v2/alerts`)).json()) as ApiAlert[]).filter((a) => a.labels.alertname === alertname);
const role = async (url: string) => ((await (await fetch(`${url}/api/v2/status`)).json()) as { cluster: { name: string } }).cluster.name;

beforeAll(async () => {
  swarm = attachSwarm();
  await swarm.waitFor(async () => (await swarm.listNodes()).every((n) => n.Status.State === 'ready' && (n.Spec.Role !== 'manager' || n.ManagerStatus?.Reachability === 'reachable')), 120_000, 'a healthy swarm');
  work = mkdtempSync(join(tmpdir(), 'swalert-ha-'));
  whPort = await freePort();
  webhook = await startWebhookReceiver(whPort, join(work, 'hooks.jsonl'));
});

afterAll(async () => {
  for (const n of killed) if (!n.isRunning()) await n.start(120_000).catch(() => undefined);
  for (const e of engines) await e.stop();
  await webhook?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('alert engine HA on two managers', () => {
  it('with a leader only the leader\'s instance notifies; without one the surviving follower does', async () => {
    const leader = await swarm.leader();
    const [peer, third] = swarm.managers.filter((m) => m.nodeId !== leader.nodeId) as [SwarmNode, SwarmNode];
    const start = (node: SwarmNode, name: string) => freePort().then((port) => startAlertEngine(port, [
      `--alertmanager.state-dir=${join(work, name)}`, `--alertmanager.webhook.url=http://127.0.0.1:${whPort}/${name}`,
      '--cluster.refresh-interval=1s', '--alertmanager.group-interval=2s',
    ], { DOCKER_HOST: node.dockerHost }));
    const [onLeader, onPeer] = await Promise.all([start(leader, 'leader'), start(peer, 'peer')]);
    engines.push(onLeader, onPeer);
    await waitUntil(async () => (await role(onLeader.url)) === 'leader' && (await role(onPeer.url)) === 'follower', 15_000, 'roles leader/follower');

    // A third manager dies: both instances see it, only the leader's notifies.
    const t1 = Date.now();
    killed.push(third);
    await third.kill();
    await waitUntil(() => firing('leader', 'SwarmManagerUnreachable').length > 0, 20_000, 'SwarmManagerUnreachable from the leader\'s instance');
    const fromLeader = (Date.now() - t1) / 1000;
    const [l, p] = await waitUntil(async () => {
      const [a, b] = [await apiAlerts(onLeader.url, 'SwarmManagerUnreachable'), await apiAlerts(onPeer.url, 'SwarmManagerUnreachable')];
      return a.length > 0 && b.length > 0 ? ([a, b] as const) : undefined;
    }, 10_000, 'the alert on both instances') as readonly [ApiAlert[], ApiAlert[]];
    expect(p.map((x) => x.fingerprint)).toEqual(l.map((x) => x.fingerprint));
    await sleep(3000); // the follower's group_wait and more
    expect(hooks('peer').filter((h) => h.payload.alerts.some((a) => CLUSTER_ALERTS.includes(a.labels.alertname!))), 'cluster notifications from the follower').toEqual([]);

    // The leader dies too: no leader; the follower, quiet so far, notifies quorum lost.
    const t2 = Date.now();
    killed.push(leader);
    await leader.kill();
    await waitUntil(() => firing('peer', 'SwarmQuorumLost').length > 0, 45_000, 'SwarmQuorumLost from the surviving follower', 200);
    const fromPeer = (Date.now() - t2) / 1000;
    expect(await role(onPeer.url)).toBe('no-leader');

    // Restore: both managers back, quorum and every node healthy.
    await Promise.all(killed.map((n) => n.start(120_000)));
    await swarm.waitFor(async () => (await swarm.listNodes()).every((n) => n.Status.State === 'ready' && (n.Spec.Role !== 'manager' || n.ManagerStatus?.Reachability === 'reachable')), 120_000, 'the swarm healthy again');
    killed.length = 0;
    console.log(`[alert-ha] third manager down → leader's instance ${fromLeader.toFixed(2)} s (follower silent); leader down → follower notified quorum lost after ${fromPeer.toFixed(2)} s`);
  });
});
