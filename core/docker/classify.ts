import { ErrorCodes, SwarmwatchError, type ErrorCode } from '../errors.js';

/** Error kinds as they appear in `swarmwatch_cluster_api_errors_total{kind}` and in model status. */
export type DockerErrorKind = 'unreachable' | 'permission' | 'timeout' | 'no_leader' | 'deadline_exceeded' | 'not_manager' | 'not_in_swarm' | 'locked' | 'not_found' | 'other';

const kindOfCode: Record<string, DockerErrorKind> = {
  [ErrorCodes.DOCKER_UNREACHABLE]: 'unreachable',
  [ErrorCodes.DOCKER_PERMISSION]: 'permission',
  [ErrorCodes.DOCKER_TIMEOUT]: 'timeout',
  [ErrorCodes.SWARM_NO_LEADER]: 'no_leader',
  [ErrorCodes.SWARM_DEADLINE]: 'deadline_exceeded',
  [ErrorCodes.SWARM_NOT_MANAGER]: 'not_manager',
  [ErrorCodes.SWARM_NOT_IN_SWARM]: 'not_in_swarm',
  [ErrorCodes.SWARM_LOCKED]: 'locked',
  [ErrorCodes.DOCKER_NOT_FOUND]: 'not_found',
};

export function kindOf(err: SwarmwatchError): DockerErrorKind {
  return kindOfCode[err.code] ?? 'other';
}

interface RawDockerError {
  code?: string;
  statusCode?: number;
  json?: { message?: string } | null;
  message?: string;
}

/**
 * Turns whatever the Engine HTTP client or the socket threw into a coded error. The engine's messages are
 * matched by their stable wording (daemon/cluster/errors.go, swarmkit raft.go), see anchors §C.2 and §C.6.
 */
export function classifyDockerError(err: unknown, endpoint: string, what: string): SwarmwatchError {
  if (err instanceof SwarmwatchError) return err;
  const e = (err ?? {}) as RawDockerError;
  const body = e.json?.message ?? e.message ?? String(err);
  const at = `${what} on ${endpoint}`;
  let code: ErrorCode = ErrorCodes.DOCKER_API;
  let fix: string | undefined;
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'EHOSTUNREACH' || e.code === 'ENOTFOUND' || /socket hang up/.test(body)) {
    code = ErrorCodes.DOCKER_UNREACHABLE;
    fix = 'is the Docker engine running? set DOCKER_HOST or SWARMWATCH_DOCKER_HOST to its socket, or mount /var/run/docker.sock';
  } else if (e.code === 'EACCES' || e.code === 'EPERM') {
    code = ErrorCodes.DOCKER_PERMISSION;
    fix = 'run as root or as a member of the socket\'s group (docker), or mount the socket read-only into the container';
  } else if (/does not have a leader/i.test(body)) {
    code = ErrorCodes.SWARM_NO_LEADER;
    fix = 'fewer than half of the managers are reachable: restart the failed managers, or recover with `docker swarm init --force-new-cluster` on a healthy one';
  } else if (/DeadlineExceeded|context deadline exceeded/i.test(body)) {
    code = ErrorCodes.SWARM_DEADLINE;
    fix = 'the manager could not reach Raft quorum in time; check manager reachability';
  } else if (/not a swarm manager/i.test(body) && !/not part of a swarm/i.test(body) && !/swarm init/i.test(body)) {
    code = ErrorCodes.SWARM_NOT_MANAGER;
  } else if (/not part of a swarm|docker swarm init/i.test(body)) {
    code = ErrorCodes.SWARM_NOT_IN_SWARM;
  } else if (/Swarm is encrypted and needs to be unlocked/i.test(body)) {
    code = ErrorCodes.SWARM_LOCKED;
    fix = 'run `docker swarm unlock` on this manager';
  } else if (/configured logging driver does not support reading/i.test(body)) {
    code = ErrorCodes.DOCKER_LOGS_UNREADABLE;
    fix = 'its log driver keeps no log the engine can read back: use json-file or local, or for a remote driver keep dual logging on (no cache-disabled=true)';
  } else if (e.statusCode === 404) {
    code = ErrorCodes.DOCKER_NOT_FOUND;
  }
  const detail = body.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
  return new SwarmwatchError(code, `${at} failed: ${detail}`, { culprit: endpoint, fix, cause: err });
}
