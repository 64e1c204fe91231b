import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, configureLogging } from '../../core/log.js';
import { AlertEngine, type AlertEngineOptions } from '../../alertmanager/engine.js';
import { defaultRouting, type Integration } from '../../alertmanager/config/routing.js';
import { defaultRuleSet } from '../../alertmanager/rules/config.js';
import { DeliveryError } from '../../alertmanager/notify/errors.js';
import type { WebhookPayload } from '../../alertmanager/notify/payload.js';
import { FakeState, clusterView, managerNode } from '../fixtures/alerts/fake-state.js';

configureLogging('error');
const dirs: string[] = [];
const engines: AlertEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

interface Sent { payload: WebhookPayload; id: string; target: Integration }

function makeEngine(state: FakeState, opts: { dir?: string; send?: (s: Sent) => void | Promise<void>; repeatMs?: number; intervalMs?: number } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'swalert-'));
  if (!opts.dir) dirs.push(dir);
  const sent: Sent[] = [];
  const routing = defaultRouting({
    groupBy: ['alertname', 'service_name'], groupWaitMs: 50, groupIntervalMs: opts.intervalMs ?? 150, repeatIntervalMs: opts.repeatMs ?? 3600_000,
    smtp: { host: '', port: 25, tls: 'none', from: '', insecureSkipVerify: false }, emailTo: [], webhookUrl: 'http://127.0.0.1:9/unused', webhookHeaders: {}, webhookTimeoutMs: 1000,
  });
  const o: AlertEngineOptions = {
    rules: defaultRuleSet(), commonLabels: {}, routing, stateDir: dir, haMode: 'leader', evaluationIntervalMs: 50, faultRefreshIntervalMs: 100,
    resolveTimeoutMs: 300_000, externalURL: 'http://sw:9338', retryInitialMs: 20, retryMaxMs: 50, notifyMaxAgeMs: 60_000, historyLimit: 100,
    hostname: () => 'manager1',
    send: async (target, payload, id) => { await opts.send?.({ payload, id, target }); sent.push({ payload, id, target }); },
  };
  const engine = new AlertEngine(state, new Registry(), createLogger('test'), o);
  engines.push(engine);
  return { engine, sent, dir };
}

const names = (s: Sent) => `${s.payload.status}:${s.payload.alerts.map((a) => `${a.labels.alertname}/${a.status}`).join(',')}`;

describe('alert engine: evaluation, grouping, inhibition, silences, acknowledgement, durability', () => {
  it('a manager turning unreachable notifies within group_wait with an Alertmanager v4 payload', async () => {
    const state = new FakeState();
    state.cluster = clusterView('nodes-healthy.json');
    const { engine, sent } = makeEngine(state);
    engine.start();
    const t0 = Date.now();
    state.setCluster(clusterView('nodes-manager2-unreachable.json'));
    await waitFor(() => sent.length >= 2);
    expect(Date.now() - t0).toBeLessThan(1000);
    const mu = sent.find((s) => s.payload.groupLabels.alertname === 'SwarmManagerUnreachable')!;
    expect(mu.payload).toMatchObject({ version: '4', status: 'firing', receiver: 'default', groupKey: '{}:{alertname="SwarmManagerUnreachable"}', externalURL: 'http://sw:9338', truncatedAlerts: 0 });
    expect(mu.payload.alerts[0]).toMatchObject({ status: 'firing', endsAt: '0001-01-01T00:00:00Z', labels: { alertname: 'SwarmManagerUnreachable', severity: 'warning', hostname: 'manager2' } });
    expect(mu.payload.alerts[0]!.annotations.runbook).toContain('docker node demote');
    expect(sent.map(names).sort()).toEqual(['firing:SwarmManagerUnreachable/firing', 'firing:SwarmQuorumAtRisk/firing']);
    // Nothing new: no repeat within the repeat interval, however many group intervals pass.
    await sleep(400);
    expect(sent).toHaveLength(2);
  });

  it('quorum lost inhibits manager-unreachable and at-risk; recovery resolves everything exactly once', async () => {
    const state = new FakeState();
    state.cluster = clusterView('nodes-healthy.json');
    const { engine, sent } = makeEngine(state);
    engine.start();
    state.setCluster(clusterView('nodes-manager2-unreachable.json'));
    await waitFor(() => sent.length === 2);
    state.setCluster(clusterView('nodes-two-managers-unreachable.json'));
    await waitFor(() => sent.some((s) => s.payload.groupLabels.alertname === 'SwarmQuorumLost'));
    await sleep(400);
    // The second unreachable manager and the at-risk resolution are muted while quorum is lost.
    expect(sent.map(names).sort()).toEqual(['firing:SwarmManagerUnreachable/firing', 'firing:SwarmQuorumAtRisk/firing', 'firing:SwarmQuorumLost/firing']);
    expect(sent).toHaveLength(3);
    state.setCluster(clusterView('nodes-healthy.json'));
    await waitFor(() => sent.length === 6);
    await sleep(400);
    expect(sent.slice(3).map(names).sort()).toEqual(['resolved:SwarmManagerUnreachable/resolved', 'resolved:SwarmQuorumAtRisk/resolved', 'resolved:SwarmQuorumLost/resolved']);
    expect(sent).toHaveLength(6);
  });

  it('silences mute; acknowledged alerts stop repeating until they resolve', async () => {
    const state = new FakeState();
    state.cluster = clusterView('nodes-healthy.json');
    const { engine, sent } = makeEngine(state, { repeatMs: 200, intervalMs: 100 });
    const now = Date.now();
    engine.createSilence({ matchers: [{ name: 'alertname', type: '=', value: 'SwarmQuorumAtRisk' }], startsAt: new Date(now).toISOString(), endsAt: new Date(now + 3600_000).toISOString(), createdBy: 't', comment: 'maintenance' });
    engine.start();
    state.setCluster(clusterView('nodes-manager2-unreachable.json'));
    await waitFor(() => sent.length >= 1);
    await sleep(500);
    expect(sent.every((s) => s.payload.groupLabels.alertname === 'SwarmManagerUnreachable')).toBe(true);
    expect(sent.length).toBeGreaterThanOrEqual(2); // repeats every 200 ms
    const fp = sent[0]!.payload.alerts[0]!.fingerprint;
    expect(engine.acknowledge(fp, 'alice', 'on it')).toBeDefined();
    await sleep(100);
    const count = sent.length;
    await sleep(600);
    expect(sent.length).toBe(count);
    state.setCluster(clusterView('nodes-healthy.json'));
    await waitFor(() => sent.some((s) => s.payload.status === 'resolved'));
    expect(engine.history.list(100).some((h) => h.status === 'resolved' && h.outcome === 'sent')).toBe(true);
  });

  it('retries with backoff and delivers exactly once', async () => {
    const state = new FakeState();
    state.cluster = clusterView('nodes-healthy.json');
    let failures = 3;
    const { engine, sent } = makeEngine(state, { send: () => { if (failures-- > 0) throw new DeliveryError('HTTP 503', true); } });
    engine.start();
    state.setCluster(clusterView('nodes-manager2-unreachable.json'));
    await waitFor(() => sent.length === 2);
    await sleep(300);
    expect(sent).toHaveLength(2);
    const h = engine.history.list();
    expect(h.reduce((n, r) => n + r.attempts, 0)).toBe(5);
    expect(engine.outbox.entries).toHaveLength(0);
  });

  it('a restarted engine neither repeats nor loses: restored nflog, outbox delivered, resolution sent', async () => {
    const state = new FakeState();
    state.cluster = clusterView('nodes-healthy.json');
    let down = true;
    const first = makeEngine(state, { send: () => { if (down) throw new DeliveryError('ECONNREFUSED', true); } });
    first.engine.start();
    state.setCluster(clusterView('nodes-manager2-unreachable.json'));
    await waitFor(() => first.engine.outbox.entries.length === 2);
    await first.engine.stop();
    engines.splice(engines.indexOf(first.engine), 1);
    // "Restart" with the receiver back: the two queued notifications go out once, nothing else.
    down = false;
    const second = makeEngine(state, { dir: first.dir });
    second.engine.start();
    await waitFor(() => second.sent.length === 2);
    await sleep(400);
    expect(second.sent.map(names).sort()).toEqual(['firing:SwarmManagerUnreachable/firing', 'firing:SwarmQuorumAtRisk/firing']);
    state.setCluster(clusterView('nodes-healthy.json'));
    await waitFor(() => second.sent.length === 4);
    await sleep(300);
    expect(second.sent.slice(2).every((s) => s.payload.status === 'resolved')).toBe(true);
  });

  it('HA: a follower stays quiet but keeps its nflog; without a leader every manager notifies', async () => {
    const state = new FakeState();
    state.localNode = managerNode('node3id0000000000000000000', false);
    state.cluster = clusterView('nodes-healthy.json');
    const { engine, sent } = makeEngine(state);
    engine.start();
    expect(engine.role()).toBe('follower');
    state.setCluster(clusterView('nodes-manager2-unreachable.json'));
    await sleep(400);
    expect(sent).toHaveLength(0);
    expect(engine.nflog.entries.size).toBe(2);
    state.setCluster(clusterView('nodes-two-managers-unreachable.json'));
    expect(engine.role()).toBe('no-leader');
    await waitFor(() => sent.length === 1);
    expect(sent[0]!.payload.groupKey).toBe('{}:{alertname="SwarmQuorumLost"}');
  });

  it('external alerts (as Prometheus posts them) are routed and resolved by endsAt', async () => {
    const state = new FakeState();
    state.localNode = undefined;
    const { engine, sent } = makeEngine(state);
    engine.start();
    const now = Date.now();
    engine.postAlerts([{ labels: { alertname: 'HighLoad', instance: 'a' }, annotations: { summary: 'load' }, startsAt: new Date(now).toISOString(), endsAt: new Date(now + 300).toISOString(), generatorURL: 'http://prom/graph' }]);
    await waitFor(() => sent.length === 1);
    expect(sent[0]!.payload.alerts[0]).toMatchObject({ status: 'firing', generatorURL: 'http://prom/graph' });
    await waitFor(() => sent.length === 2, 3000);
    expect(sent[1]!.payload.status).toBe('resolved');
  });
});
