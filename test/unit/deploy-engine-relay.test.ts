/** GET /engine/metrics relays the engine's metrics-addr endpoint, and says why when it cannot. */
import express from 'express';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { mountEngineRelay } from '../../exporter/engine-relay.js';

const servers: http.Server[] = [];
const listen = (handler: http.RequestListener | express.Express) => new Promise<string>((resolve) => {
  const s = http.createServer(handler as http.RequestListener).listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`));
  servers.push(s);
});
const ENGINE_TEXT = '# HELP engine_daemon_engine_info The information related to the engine\n# TYPE engine_daemon_engine_info gauge\nengine_daemon_engine_info{version="20.10.24"} 1\n';
let engineUrl = '';

beforeAll(async () => {
  engineUrl = await listen((req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === '/metrics') { res.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8'); res.end(ENGINE_TEXT); return; }
    if (req.url === '/slow') return; // never answers
    res.statusCode = 500;
    res.end('boom');
  });
});
afterAll(() => { for (const s of servers) { s.closeAllConnections(); s.close(); } });

async function relay(url: string, timeoutMs = 300) {
  const app = express();
  mountEngineRelay(app, url, createLogger('test'), { timeoutMs });
  return fetch(`${await listen(app)}/engine/metrics`);
}

describe('engine metrics relay', () => {
  it('passes the body and content type through', async () => {
    const r = await relay(`${engineUrl}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    expect(await r.text()).toBe(ENGINE_TEXT);
  });

  it('answers 502 with the reason when the engine endpoint fails, refuses or hangs', async () => {
    const bad = await relay(`${engineUrl}/other`);
    expect(bad.status).toBe(502);
    expect(await bad.text()).toMatch(/answered HTTP 500/);
    const closed = await new Promise<number>((res) => { const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => res(p)); }); });
    const refused = await relay(`http://127.0.0.1:${closed}/metrics`);
    expect(refused.status).toBe(502);
    expect(await refused.text()).toMatch(/ECONNREFUSED/);
    const slow = await relay(`${engineUrl}/slow`, 200);
    expect(slow.status).toBe(502);
    expect(await slow.text()).toMatch(/no answer within 200 ms/);
  });

  it('mounts nothing when no URL is configured', async () => {
    expect((await relay('')).status).toBe(404);
  });
});
