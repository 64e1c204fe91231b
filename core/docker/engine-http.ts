import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { ErrorCodes, SwarmwatchError } from '../errors.js';

/**
 * The Engine API over a unix socket or TCP with node:http only. swarmwatch needs a dozen GETs and two follow
 * streams; dockerode's import alone costs ≈26 MB of RSS (grpc, protobuf, ssh2 for features we never use),
 * which broke the exporter's memory budget (see docs/benchmarks.md).
 */
export interface EngineTarget {
  socketPath?: string;
  host?: string;
  port?: number;
  protocol: 'http' | 'https';
}

/** Shaped like docker-modem's errors (statusCode, json) so classify.ts reads both. */
export interface EngineHttpError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
}

export function parseEngineHost(host: string): EngineTarget {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length), protocol: 'http' };
  if (host.startsWith('/')) return { socketPath: host, protocol: 'http' };
  const m = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (!m) {
    throw new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `invalid Docker host "${host}"`, {
      culprit: 'SWARMWATCH_DOCKER_HOST', fix: 'use unix:///var/run/docker.sock, an absolute socket path or tcp://host:port',
    });
  }
  const protocol = m[1] === 'https' ? 'https' : 'http';
  return { host: m[2], port: Number(m[3] ?? (protocol === 'https' ? 2376 : 2375)), protocol };
}

export function queryString(q: Record<string, string | number | boolean | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export class EngineHttp {
  /** Keep-alive for the short calls: a scrape on a manager makes three, every few seconds. */
  private readonly agent: http.Agent;

  constructor(private readonly target: EngineTarget) {
    const Agent = target.protocol === 'https' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 16 });
  }

  /** `deadlineCoversBody`: the timer runs until the body ends (short calls) or only until headers (follow streams). */
  private open(path: string, timeoutMs: number, agent: http.Agent | false, deadlineCoversBody: boolean, body?: string): Promise<http.IncomingMessage> {
    const mod = this.target.protocol === 'https' ? https : http;
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
      if (body !== undefined) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = Buffer.byteLength(body); }
      const req = mod.request({
        socketPath: this.target.socketPath, host: this.target.host, port: this.target.port,
        method: body === undefined ? 'GET' : 'POST', path, agent, headers,
      });
      const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'SW_TIMEOUT' })), timeoutMs);
      timer.unref();
      req.once('error', (err) => { clearTimeout(timer); reject(err); });
      req.once('response', (res) => {
        if ((res.statusCode ?? 0) < 300) {
          if (!deadlineCoversBody) clearTimeout(timer);
          res.once('end', () => clearTimeout(timer));
          res.once('close', () => clearTimeout(timer));
          resolve(res);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (err) => { clearTimeout(timer); reject(err); });
        res.once('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: { message?: string } | null = null;
          try { json = JSON.parse(text) as { message?: string }; } catch { /* plain-text error body */ }
          const err: EngineHttpError = new Error(`(HTTP code ${res.statusCode}) ${json?.message ?? text.trim()}`);
          err.statusCode = res.statusCode;
          err.json = json ?? { message: text.trim() };
          reject(err);
        });
      });
      req.end(body);
    });
  }

  /** GET returning parsed JSON; the deadline covers connect, headers and body. */
  getJson<T>(path: string, timeoutMs: number): Promise<T> {
    return this.requestJson<T>(path, timeoutMs);
  }

  /** POST of a JSON body returning parsed JSON (container update); the deadline covers the whole exchange. */
  postJson<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    return this.requestJson<T>(path, timeoutMs, JSON.stringify(body));
  }

  private async requestJson<T>(path: string, timeoutMs: number, body?: string): Promise<T> {
    const res = await this.open(path, timeoutMs, this.agent, true, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text.length) return null as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T; // /_ping answers plain "OK"
    }
  }

  /** GET returning the body as a stream once headers arrive (follow streams: no deadline after that). */
  getStream(path: string, headersTimeoutMs: number): Promise<Readable> {
    return this.open(path, headersTimeoutMs, false, false);
  }

  close(): void {
    this.agent.destroy();
  }
}
