/**
 * Relays the local engine's own Prometheus endpoint (dockerd --metrics-addr) at GET /engine/metrics.
 *
 * Why: dockerd usually binds its metrics to an address only reachable from the node itself
 * (127.0.0.1 or the docker_gwbridge gateway). Prometheus reaches every node's agent anyway, so the
 * agent passes the engine's metrics through on its own port and no per-node proxy (swarmprom's
 * Caddy "dockerd-exporter") is needed.
 */
import type { Express, Response } from 'express';
import type { Logger } from '../core/log.js';

export const ENGINE_RELAY_PATH = '/engine/metrics';
/** dockerd answers in a few ms; a Prometheus scrape timeout is 10 s by default, so fail well before it. */
export const ENGINE_RELAY_TIMEOUT_MS = 3000;

export interface EngineRelayOptions {
  timeoutMs?: number;
}

/** Mounts GET /engine/metrics on `app`; does nothing when `url` is empty (relay disabled). */
export function mountEngineRelay(app: Express, url: string, log: Logger, opts: EngineRelayOptions = {}): void {
  if (!url) return;
  const timeoutMs = opts.timeoutMs ?? ENGINE_RELAY_TIMEOUT_MS;
  let lastFailure = '';
  app.get(ENGINE_RELAY_PATH, async (_req, res) => {
    try {
      const upstream = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain' } });
      const body = await upstream.text();
      if (!upstream.ok) {
        fail(res, `engine metrics endpoint ${url} answered HTTP ${upstream.status}`);
        return;
      }
      if (lastFailure) log.info('engine metrics relay recovered', { url });
      lastFailure = '';
      res.status(200).type(upstream.headers.get('content-type') ?? 'text/plain; version=0.0.4').send(body);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const reason = e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
      fail(res, `cannot reach engine metrics endpoint ${url}: ${reason}`);
    }
  });

  // Log a failure once per distinct reason: Prometheus retries every scrape interval.
  function fail(res: Response, reason: string): void {
    if (reason !== lastFailure) log.warn('engine metrics relay failed', { reason, fix: 'start dockerd with --metrics-addr and set exporter.engine-metrics-url to it' });
    lastFailure = reason;
    res.status(502).type('text/plain').send(`${reason}\n(is dockerd started with --metrics-addr, and does exporter.engine-metrics-url point at it?)\n`);
  }
}
