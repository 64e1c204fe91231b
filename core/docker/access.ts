import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { ErrorCodes, SwarmwatchError } from '../errors.js';
import { classifyDockerError } from './classify.js';
import type { RawContainerInspect, RawContainerSummary, RawEngineInfo, RawNode, RawService, RawTask, RawVersion } from './types.js';

export interface DockerAccessOptions {
  /** `unix:///var/run/docker.sock`, `/path/to.sock`, `tcp://host:2375`. */
  host: string;
  /** Deadline for local calls (info, containers). */
  timeoutMs: number;
  /** Deadline for cluster calls (nodes, services, tasks); these hang for 20 s when quorum is lost. */
  clusterTimeoutMs: number;
}

export interface LogsRequest {
  /** Seconds with a nanosecond fraction, as the API accepts (`1700000000.123456789`). Inclusive. */
  since?: string;
  until?: string;
  follow: boolean;
  stdout?: boolean;
  stderr?: boolean;
  timestamps?: boolean;
  tail?: string;
}

export function resolveDockerHost(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return configured || env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

function modemOptions(host: string, timeout?: number): Docker.DockerOptions {
  const withTimeout = timeout ? { timeout } : {};
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length), ...withTimeout };
  if (host.startsWith('/')) return { socketPath: host, ...withTimeout };
  const m = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (!m) {
    throw new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `invalid Docker host "${host}"`, {
      culprit: 'SWARMWATCH_DOCKER_HOST', fix: 'use unix:///var/run/docker.sock, an absolute socket path or tcp://host:port',
    });
  }
  const protocol = m[1] === 'https' ? 'https' : 'http';
  return { protocol, host: m[2], port: Number(m[3] ?? (protocol === 'https' ? 2376 : 2375)), ...withTimeout };
}

/**
 * The single way swarmwatch talks to the Docker engine. Every call has a deadline and every failure becomes a
 * coded SwarmwatchError (see classify.ts), so the state model can report "no leader" or "engine down" as states.
 */
export class DockerAccess {
  readonly endpoint: string;
  private readonly api: Docker;
  private readonly clusterApi: Docker;
  /** No socket timeout: follow streams (events, logs) stay idle for long periods. */
  private readonly streams: Docker;

  constructor(private readonly opts: DockerAccessOptions) {
    this.endpoint = opts.host;
    this.api = new Docker(modemOptions(opts.host, opts.timeoutMs + 1000));
    this.clusterApi = new Docker(modemOptions(opts.host, opts.clusterTimeoutMs + 1000));
    this.streams = new Docker(modemOptions(opts.host));
  }

  private async call<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SwarmwatchError(ErrorCodes.DOCKER_TIMEOUT, `${what} on ${this.endpoint} did not answer within ${timeoutMs} ms`, {
        culprit: this.endpoint, fix: 'the engine is overloaded or, on a manager, Raft has lost quorum',
      })), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      throw classifyDockerError(err, this.endpoint, what);
    } finally {
      clearTimeout(timer);
    }
  }

  ping(): Promise<unknown> {
    return this.call('GET /_ping', this.opts.timeoutMs, () => this.api.ping());
  }

  info(): Promise<RawEngineInfo> {
    // /info on a manager without quorum takes up to 20 s (it lists nodes); give it the cluster deadline.
    return this.call('GET /info', Math.max(this.opts.timeoutMs, this.opts.clusterTimeoutMs), () => this.clusterApi.info() as Promise<RawEngineInfo>);
  }

  version(): Promise<RawVersion> {
    return this.call('GET /version', this.opts.timeoutMs, () => this.api.version() as Promise<RawVersion>);
  }

  listContainers(): Promise<RawContainerSummary[]> {
    return this.call('GET /containers/json', this.opts.timeoutMs, () => this.api.listContainers({ all: true }) as Promise<RawContainerSummary[]>);
  }

  inspectContainer(id: string): Promise<RawContainerInspect> {
    return this.call(`GET /containers/${id.slice(0, 12)}/json`, this.opts.timeoutMs, () => this.api.getContainer(id).inspect() as Promise<RawContainerInspect>);
  }

  listNodes(): Promise<RawNode[]> {
    return this.call('GET /nodes', this.opts.clusterTimeoutMs, () => this.clusterApi.listNodes() as Promise<RawNode[]>);
  }

  listServices(): Promise<RawService[]> {
    return this.call('GET /services?status=true', this.opts.clusterTimeoutMs, () => this.clusterApi.listServices({ status: true } as Docker.ServiceListOptions) as Promise<RawService[]>);
  }

  listTasks(): Promise<RawTask[]> {
    return this.call('GET /tasks', this.opts.clusterTimeoutMs, () => this.clusterApi.listTasks() as Promise<RawTask[]>);
  }

  /** Newline-delimited JSON events; `since` replays (the engine keeps the last 256). */
  events(since?: string): Promise<Readable> {
    const opts: Record<string, string> = {};
    if (since) opts.since = since;
    return this.call('GET /events', this.opts.timeoutMs, () => this.streams.getEvents(opts) as unknown as Promise<Readable>);
  }

  /** Raw logs stream: multiplexed frames for non-TTY containers, plain bytes for TTY ones. */
  containerLogs(id: string, req: LogsRequest): Promise<Readable> {
    const q: Record<string, unknown> = {
      follow: req.follow, stdout: req.stdout ?? true, stderr: req.stderr ?? true, timestamps: req.timestamps ?? true,
    };
    if (req.since !== undefined) q.since = req.since;
    if (req.until !== undefined) q.until = req.until;
    if (req.tail !== undefined) q.tail = req.tail;
    return this.call(`GET /containers/${id.slice(0, 12)}/logs`, this.opts.timeoutMs, () =>
      this.streams.getContainer(id).logs(q as unknown as Docker.ContainerLogsOptions & { follow: true }) as unknown as Promise<Readable>);
  }
}
