import express, { type Express } from 'express';
import type { Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { ErrorCodes, SwarmwatchError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ByteSink } from '../metrics/exposition-writer.js';
import type { TextCollector } from '../runtime/component.js';

/**
 * A scrape client that stops reading is dropped after this long without progress: streamed scrapes run one at a
 * time (core/metrics/exposition-writer.ts), so a stalled reader would otherwise hold every later scrape.
 */
const SCRAPE_STALL_MS = 30_000;

/**
 * Chunks go to the socket as they are; each is released once the socket has taken it (write callback), or when the
 * connection closes, so the pooled buffer is reused only when the kernel has the bytes.
 */
function responseSink(res: ServerResponse): ByteSink {
  const pending = new Set<() => void>();
  let closed = false;
  res.once('close', () => {
    closed = true;
    for (const release of pending) release();
    pending.clear();
  });
  return {
    get closed() { return closed; },
    write(chunk, release) {
      if (closed) { release(); return; }
      pending.add(release);
      res.write(chunk, () => { pending.delete(release); release(); });
    },
  };
}

export function createApp(registry: Registry, textCollectors: TextCollector[], log: Logger): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    let head: string;
    try {
      head = await registry.metrics();
    } catch (err) {
      log.error('scrape failed', { error: (err as Error).message });
      res.status(500).type('text/plain').send(`scrape failed: ${(err as Error).message}\n`);
      return;
    }
    res.setHeader('Content-Type', registry.contentType);
    res.setTimeout(SCRAPE_STALL_MS, () => res.destroy());
    res.write(head);
    // Hot collectors write chunk by chunk straight to the socket; a failing one loses only its own families.
    const sink = responseSink(res);
    for (const c of textCollectors) {
      if (sink.closed) break;
      try {
        if (c.stream) await c.stream(sink);
        else res.write(await c.collect());
      } catch (err) {
        log.error(`collector ${c.name} failed`, { error: (err as Error).message });
      }
    }
    res.end();
  });
  app.get('/-/healthy', (_req, res) => { res.type('text/plain').send('OK\n'); });
  return app;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 0 || port > 65535) {
    throw new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `invalid listen address "${listen}"`, {
      culprit: 'http.listen', fix: 'use host:port, e.g. 0.0.0.0:9338 or 127.0.0.1:9338 (port 0–65535)',
    });
  }
  return { host: m[1] || '0.0.0.0', port };
}

export function listen(app: Express, address: string): Promise<Server> {
  const { host, port } = parseListen(address);
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => reject(new SwarmwatchError(ErrorCodes.HTTP_LISTEN, `cannot listen on ${address}: ${err.code ?? err.message}`, {
      culprit: 'http.listen', fix: 'choose a free port with --http.listen or SWARMWATCH_HTTP_LISTEN', cause: err,
    })));
  });
}
