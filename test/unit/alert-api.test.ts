import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureLogging, createLogger } from '../../core/log.js';
import { alertApi } from '../../alertmanager/api/routes.js';
import { AlertEngine } from '../../alertmanager/engine.js';
import { defaultRouting } from '../../alertmanager/config/routing.js';
import { defaultRuleSet } from '../../alertmanager/rules/config.js';
import { FakeState } from '../fixtures/alerts/fake-state.js';

configureLogging('error');
const TOKEN = 'test-token-123';
let server: Server;
let base: string;
let engine: AlertEngine;
let dir: string;
const sent: unknown[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swalert-api-'));
  const state = new FakeState();
  state.localNode = undefined;
  engine = new AlertEngine(state, new Registry(), createLogger('t'), {
    rules: defaultRuleSet(), commonLabels: {}, stateDir: dir, haMode: 'leader', evaluationIntervalMs: 100, faultRefreshIntervalMs: 1000,
    routing: defaultRouting({ groupBy: ['alertname'], groupWaitMs: 10, groupIntervalMs: 100, repeatIntervalMs: 3600_000, smtp: { host: '', port: 25, tls: 'none', from: '', insecureSkipVerify: false }, emailTo: [], webhookUrl: 'http://x/y', webhookHeaders: {}, webhookTimeoutMs: 1000 }),
    resolveTimeoutMs: 300_000, externalURL: '', retryInitialMs: 10, retryMaxMs: 10, notifyMaxAgeMs: 1000, historyLimit: 100, hostname: () => 'h',
    send: async (_t, p) => { sent.push(p); },
  });
  const app = express();
  app.use(alertApi(engine, { token: TOKEN, maxBodyBytes: 4096 }));
  engine.start();
  server = await new Promise<Server>((res) => { const s = app.listen(0, '127.0.0.1', () => res(s)); });
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(async () => {
  await engine.stop();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const post = (path: string, body: string, headers: Record<string, string> = auth) => fetch(base + path, { method: 'POST', headers, body });

describe('alert engine HTTP API', () => {
  it('write endpoints need the bearer token', async () => {
    const r1 = await post('/api/v2/alerts', '[]', { 'content-type': 'application/json' });
    expect(r1.status).toBe(401);
    expect((await r1.json()).error).toMatch(/missing bearer token/);
    const r2 = await post('/api/v2/alerts', '[]', { authorization: 'Bearer nope', 'content-type': 'application/json' });
    expect(r2.status).toBe(401);
    expect((await fetch(`${base}/api/v2/silence/x`, { method: 'DELETE' })).status).toBe(401);
  });

  it('garbage and oversized bodies get a 4xx with a reason', async () => {
    const bad = await post('/api/v2/alerts', '{not json');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/not valid JSON/);
    const big = await post('/api/v2/alerts', JSON.stringify([{ labels: { alertname: 'x'.repeat(5000) } }]));
    expect(big.status).toBe(413);
    expect((await big.json()).error).toMatch(/larger than 4096 bytes/);
    const shape = await post('/api/v2/alerts', JSON.stringify({ labels: {} }));
    expect(shape.status).toBe(400);
    expect((await shape.json()).error).toMatch(/JSON array/);
    const label = await post('/api/v2/alerts', JSON.stringify([{ labels: { 'bad-name': 'x' } }]));
    expect((await label.json()).error).toMatch(/not a valid label name/);
    const silence = await post('/api/v2/silences', JSON.stringify({ matchers: [] }));
    expect(silence.status).toBe(400);
  });

  it('POST /api/v2/alerts routes and notifies; GET lists it; ack and history work', async () => {
    const r = await post('/api/v2/alerts', JSON.stringify([{ labels: { alertname: 'PromAlert', severity: 'warning' }, annotations: { summary: 's' }, generatorURL: 'http://prom' }]));
    expect(r.status).toBe(200);
    const alerts = await (await fetch(`${base}/api/v2/alerts`)).json() as { fingerprint: string; status: { state: string }; receivers: { name: string }[] }[];
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.status.state).toBe('active');
    expect(alerts[0]!.receivers).toEqual([{ name: 'default' }]);
    for (let i = 0; i < 100 && sent.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(sent).toHaveLength(1);
    const ack = await post(`/api/v2/alerts/${alerts[0]!.fingerprint}/ack`, JSON.stringify({ by: 'bob', comment: 'looking' }));
    expect(ack.status).toBe(200);
    expect((await post('/api/v2/alerts/ffff/ack', '{}')).status).toBe(404);
    const listed = await (await fetch(`${base}/api/v2/alerts`)).json() as { acknowledgement?: { by: string } }[];
    expect(listed[0]!.acknowledgement?.by).toBe('bob');
    const hist = await (await fetch(`${base}/api/v2/notifications`)).json() as { outcome: string; receiver: string }[];
    expect(hist[0]).toMatchObject({ outcome: 'sent', receiver: 'default' });
  });

  it('silences: create, list, get, expire', async () => {
    const now = Date.now();
    const r = await post('/api/v2/silences', JSON.stringify({ matchers: [{ name: 'alertname', value: 'PromAlert', isRegex: false }], startsAt: new Date(now).toISOString(), endsAt: new Date(now + 60_000).toISOString(), createdBy: 'me', comment: 'test' }));
    expect(r.status).toBe(200);
    const { silenceID } = await r.json() as { silenceID: string };
    const alerts = await (await fetch(`${base}/api/v2/alerts`)).json() as { status: { state: string; silencedBy: string[] } }[];
    expect(alerts[0]!.status).toMatchObject({ state: 'suppressed', silencedBy: [silenceID] });
    expect(((await (await fetch(`${base}/api/v2/silence/${silenceID}`)).json()) as { status: { state: string } }).status.state).toBe('active');
    expect((await fetch(`${base}/api/v2/silence/${silenceID}`, { method: 'DELETE', headers: auth })).status).toBe(200);
    const list = await (await fetch(`${base}/api/v2/silences`)).json() as { status: { state: string } }[];
    expect(list[0]!.status.state).toBe('expired');
  });

  it('/-/ready answers once started', async () => {
    expect((await fetch(`${base}/-/ready`)).status).toBe(200);
  });
});
