import type { SwarmwatchError } from '../errors.js';
import type { DockerErrorKind } from '../docker/classify.js';

/** Swarm labels the engine puts on task containers (and the stack label `docker stack deploy` adds). */
export interface SwarmLabels {
  serviceName?: string;
  serviceId?: string;
  taskName?: string;
  taskId?: string;
  nodeId?: string;
  stackNamespace?: string;
}

export type HealthState = 'healthy' | 'unhealthy' | 'starting' | 'none';

export interface ContainerRecord {
  id: string;
  /** Without the leading slash. */
  name: string;
  /** Image reference from the container config (what the user asked for). */
  image: string;
  imageId: string;
  command: string;
  /** Unix seconds (fractional). */
  createdAt: number;
  createdIso: string;
  startedAt?: number;
  finishedAt?: number;
  /** created | running | paused | restarting | removing | exited | dead */
  state: string;
  /** Host PID of the init process; 0 when not running. */
  pid: number;
  tty: boolean;
  labels: Record<string, string>;
  env: string[];
  health: HealthState;
  oomKilled: boolean;
  exitCode: number;
  restartCount: number;
  cgroupParent: string;
  logDriver: string;
  /** Removed by the engine when it exits (`docker run --rm`). */
  autoRemove: boolean;
  swarm: SwarmLabels;
}

export interface LocalNode {
  engine: {
    id: string;
    hostname: string;
    version: string;
    apiVersion: string;
    os: string;
    kernel: string;
    architecture: string;
    ncpu: number;
    memTotal: number;
    cgroupDriver: string;
    cgroupVersion: string;
    dockerRootDir: string;
  };
  swarm: {
    nodeId: string;
    nodeAddr: string;
    /** '' | inactive | pending | active | error | locked */
    localState: string;
    controlAvailable: boolean;
    error: string;
    isManager: boolean;
    /** From the latest cluster view; false on workers. */
    isLeader: boolean;
    clusterId: string;
    managers?: number;
    nodes?: number;
  };
}

export interface NodeRecord {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  availability: 'active' | 'pause' | 'drain';
  state: 'unknown' | 'down' | 'ready' | 'disconnected';
  message: string;
  addr: string;
  engineVersion: string;
  /** Managers only. */
  reachability?: 'unknown' | 'unreachable' | 'reachable';
  leader: boolean;
  managerAddr?: string;
}

export type ServiceMode = 'replicated' | 'global' | 'replicated-job' | 'global-job';

export interface ServiceRecord {
  id: string;
  name: string;
  stack: string;
  mode: ServiceMode;
  image: string;
  /** From ?status=true; undefined when the engine did not send ServiceStatus. */
  desired?: number;
  running?: number;
  completed?: number;
  /** '' when the service never updated. */
  updateState: string;
  updateMessage: string;
  labels: Record<string, string>;
}

export interface TaskRecord {
  id: string;
  serviceId: string;
  nodeId: string;
  slot?: number;
  desiredState: string;
  state: string;
  message: string;
  err: string;
  exitCode?: number;
  containerId?: string;
  /** Unix ms of Status.Timestamp. */
  timestamp: number;
}

/** Quorum as seen by the answering manager (anchors §C.6). */
export interface QuorumView {
  managers: number;
  reachable: number;
  quorum: number;
  margin: number;
}

export interface ClusterView {
  nodes: NodeRecord[];
  services: ServiceRecord[];
  tasks: TaskRecord[];
  /** Unix ms of the last successful nodes listing. */
  fetchedAt: number;
  /** Unix ms of the last attempt. */
  attemptedAt: number;
  /** True when the last attempt failed and nodes/services/tasks are the last known ones. */
  stale: boolean;
  leaderPresent: boolean;
  quorum: QuorumView;
  error?: { kind: DockerErrorKind; code: string; message: string };
}

export interface TaskFailure {
  taskId: string;
  serviceId: string;
  serviceName: string;
  stack: string;
  nodeId: string;
  nodeHostname: string;
  state: 'failed' | 'rejected';
  exitCode?: number;
  err: string;
  message: string;
  timestamp: number;
  slot?: number;
}

export interface EngineStatus {
  up: boolean;
  /** Unix ms of the last transition. */
  since: number;
  lastError?: SwarmwatchError;
}
