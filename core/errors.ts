/**
 * Errors are values with a stable code, modelled on undici's UND_ERR_* and fastify's FST_ERR_*.
 * Every message names the culprit and, where one exists, the fix.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'SW_ERR_CONFIG_INVALID',
  CONFIG_FILE: 'SW_ERR_CONFIG_FILE',
  CONFIG_UNKNOWN_OPTION: 'SW_ERR_CONFIG_UNKNOWN_OPTION',
  DOCKER_UNREACHABLE: 'SW_ERR_DOCKER_UNREACHABLE',
  DOCKER_PERMISSION: 'SW_ERR_DOCKER_PERMISSION',
  DOCKER_TIMEOUT: 'SW_ERR_DOCKER_TIMEOUT',
  DOCKER_NOT_FOUND: 'SW_ERR_DOCKER_NOT_FOUND',
  /** The container's log driver keeps nothing the engine can read back (none, or a remote driver without its cache). */
  DOCKER_LOGS_UNREADABLE: 'SW_ERR_DOCKER_LOGS_UNREADABLE',
  DOCKER_API: 'SW_ERR_DOCKER_API',
  SWARM_NO_LEADER: 'SW_ERR_SWARM_NO_LEADER',
  SWARM_DEADLINE: 'SW_ERR_SWARM_DEADLINE_EXCEEDED',
  SWARM_NOT_MANAGER: 'SW_ERR_SWARM_NOT_MANAGER',
  SWARM_NOT_IN_SWARM: 'SW_ERR_SWARM_INACTIVE',
  SWARM_LOCKED: 'SW_ERR_SWARM_LOCKED',
  CGROUP_READ: 'SW_ERR_CGROUP_READ',
  CGROUP_PARSE: 'SW_ERR_CGROUP_PARSE',
  HTTP_LISTEN: 'SW_ERR_HTTP_LISTEN',
  INTERNAL: 'SW_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | `SW_ERR_${string}`;

const kSwarmwatchError = Symbol.for('swarmwatch.error');

export class SwarmwatchError extends Error {
  readonly code: ErrorCode;
  /** The thing at fault: an option name, a file path, a socket, a container id. */
  readonly culprit?: string;
  /** What the operator can do about it. */
  readonly fix?: string;
  readonly [kSwarmwatchError] = true;

  constructor(code: ErrorCode, message: string, opts: { culprit?: string; fix?: string; cause?: unknown } = {}) {
    super(opts.fix ? `${message} — ${opts.fix}` : message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwarmwatchError';
    this.code = code;
    this.culprit = opts.culprit;
    this.fix = opts.fix;
  }

  /** Works across duplicate module copies, like undici's Symbol.for based checks. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kSwarmwatchError] === true;
  }
}

export function isSwarmwatchError(value: unknown, code?: ErrorCode): value is SwarmwatchError {
  return value instanceof SwarmwatchError && (code === undefined || value.code === code);
}

/** Wraps anything thrown into a SwarmwatchError so callers only ever see coded errors. */
export function asSwarmwatchError(err: unknown, fallbackCode: ErrorCode = ErrorCodes.INTERNAL): SwarmwatchError {
  if (err instanceof SwarmwatchError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SwarmwatchError(fallbackCode, message, { cause: err });
}
