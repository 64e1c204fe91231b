import type { Readable } from 'node:stream';
import { ErrorCodes, SwarmwatchError } from '../errors.js';
import { classifyDockerError } from './classify.js';
import { EngineHttp, parseEngineHost, queryString } from './engine-http.js';
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

/**
 * The single way swarmwatch talks to the Docker engine. Every call has a deadline and every failure becomes a
 * coded SwarmwatchError (see classify.ts), so the state model can report "no leader" or "engine down" as states.
 */
export class DockerAccess {
  readonly endpoint: string;
  private readonly http: EngineHttp;

  constructor(private readonly opts: DockerAccessOptions) {
    this.endpoint = opts.host;
    this.http = new EngineHttp(parseEngineHost(opts.host));
  }

  private async get<T>(what: string, path: string, timeoutMs: number): Promise<T> {
    try {
      return await this.http.getJson<T>(path, timeoutMs);
    } catch (err) {
      throw this.failure(err, what, timeoutMs);
    }
  }

  private failure(err: unknown, what: string, timeoutMs: number): SwarmwatchError {
    if ((err as { code?: string }).code === 'SW_TIMEOUT') {
      return new SwarmwatchError(ErrorCodes.DOCKER_TIMEOUT, `${what} on ${this.endpoint} did not answer within ${timeoutMs} ms`, {
        culprit: this.endpoint, fix: 'the engine is overloaded or, on a manager, Raft has lost quorum', cause: err,
      });
    }
    return classifyDockerError(err, this.endpoint, what);
  }

  ping(): Promise<unknown> {
    return this.get('GET /_ping', '/_ping', this.opts.timeoutMs);
  }

  info(): Promise<RawEngineInfo> {
    // /info on a manager without quorum takes up to 20 s (it lists nodes); give it the cluster deadline.
    return this.get('GET /info', '/info', Math.max(this.opts.timeoutMs, this.opts.clusterTimeoutMs));
  }

  version(): Promise<RawVersion> {
    return this.get('GET /version', '/version', this.opts.timeoutMs);
  }

  listContainers(): Promise<RawContainerSummary[]> {
    return this.get('GET /containers/json', '/containers/json?all=1', this.opts.timeoutMs);
  }

  inspectContainer(id: string): Promise<RawContainerInspect> {
    return this.get(`GET /containers/${id.slice(0, 12)}/json`, `/containers/${encodeURIComponent(id)}/json`, this.opts.timeoutMs);
  }

  /**
   * Sets a container's CPU weight (`docker update --cpu-shares`): the engine writes cpu.shares (cgroup v1) or the
   * equivalent cpu.weight (v2) and keeps it in the container's HostConfig, where `docker inspect` shows it.
   */
  async updateContainerCpuShares(id: string, cpuShares: number): Promise<void> {
    const what = `POST /containers/${id.slice(0, 12)}/update`;
    try {
      await this.http.postJson(`/containers/${encodeURIComponent(id)}/update`, { CpuShares: cpuShares }, this.opts.timeoutMs);
    } catch (err) {
      throw this.failure(err, what, this.opts.timeoutMs);
    }
  }

  listNodes(): Promise<RawNode[]> {
    return this.get('GET /nodes', '/nodes', this.opts.clusterTimeoutMs);
  }

  listServices(): Promise<RawService[]> {
    return this.get('GET /services?status=true', '/services?status=true', this.opts.clusterTimeoutMs);
  }

  listTasks(): Promise<RawTask[]> {
    return this.get('GET /tasks', '/tasks', this.opts.clusterTimeoutMs);
  }

  /** Newline-delimited JSON events; `since` replays (the engine keeps the last 256). */
  async events(since?: string): Promise<Readable> {
    try {
      return await this.http.getStream(`/events${queryString({ since })}`, this.opts.timeoutMs);
    } catch (err) {
      throw this.failure(err, 'GET /events', this.opts.timeoutMs);
    }
  }

  /** Raw logs stream: multiplexed frames for non-TTY containers, plain bytes for TTY ones. */
  async containerLogs(id: string, req: LogsRequest): Promise<Readable> {
    const q = queryString({
      follow: req.follow, stdout: req.stdout ?? true, stderr: req.stderr ?? true, timestamps: req.timestamps ?? true,
      since: req.since, until: req.until, tail: req.tail,
    });
    try {
      return await this.http.getStream(`/containers/${encodeURIComponent(id)}/logs${q}`, this.opts.timeoutMs);
    } catch (err) {
      throw this.failure(err, `GET /containers/${id.slice(0, 12)}/logs`, this.opts.timeoutMs);
    }
  }

  /** Closes kept-alive sockets; open streams are closed by their owners. */
  close(): void {
    this.http.close();
  }
}
