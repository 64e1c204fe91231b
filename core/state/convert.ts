import type { RawContainerConfigFile, RawContainerInspect, RawEngineInfo, RawNode, RawService, RawTask, RawVersion } from '../docker/types.js';
import type { ContainerRecord, HealthState, LocalNode, NodeRecord, QuorumView, ServiceMode, ServiceRecord, SwarmLabels, TaskRecord } from './types.js';

function parseTime(iso: string | undefined): number | undefined {
  if (!iso || iso.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse drops sub-millisecond digits; keep microseconds for start-time gauges.
  const frac = /\.(\d+)/.exec(iso)?.[1] ?? '';
  const extra = frac.length > 3 ? Number(`0.${frac.slice(3, 9)}`) / 1000 : 0;
  return ms / 1000 + extra;
}

export function swarmLabelsOf(labels: Record<string, string>): SwarmLabels {
  return {
    serviceName: labels['com.docker.swarm.service.name'],
    serviceId: labels['com.docker.swarm.service.id'],
    taskName: labels['com.docker.swarm.task.name'],
    taskId: labels['com.docker.swarm.task.id'],
    nodeId: labels['com.docker.swarm.node.id'],
    stackNamespace: labels['com.docker.stack.namespace'],
  };
}

export function containerFromInspect(c: RawContainerInspect): ContainerRecord {
  const labels = c.Config.Labels ?? {};
  const health = (c.State.Health?.Status ?? 'none') as HealthState;
  const entry = Array.isArray(c.Config.Entrypoint) ? c.Config.Entrypoint : c.Config.Entrypoint ? [c.Config.Entrypoint] : [];
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    imageId: c.Image,
    command: [...entry, ...(c.Config.Cmd ?? [])].join(' ') || [c.Path, ...(c.Args ?? [])].join(' '),
    createdAt: parseTime(c.Created) ?? 0,
    createdIso: c.Created,
    startedAt: parseTime(c.State.StartedAt),
    finishedAt: parseTime(c.State.FinishedAt),
    state: c.State.Status,
    pid: c.State.Pid ?? 0,
    tty: c.Config.Tty === true,
    labels,
    env: c.Config.Env ?? [],
    health: ['healthy', 'unhealthy', 'starting'].includes(health) ? health : 'none',
    oomKilled: c.State.OOMKilled === true,
    exitCode: c.State.ExitCode ?? 0,
    restartCount: c.RestartCount ?? 0,
    cgroupParent: c.HostConfig.CgroupParent ?? '',
    logDriver: c.HostConfig.LogConfig?.Type ?? '',
    autoRemove: c.HostConfig.AutoRemove === true,
    swarm: swarmLabelsOf(labels),
  };
}

/**
 * A container's record from the engine's config.v2.json, for a container that was removed before its inspect
 * answered (the shipper opens that file on the start event). `logDriver` comes from the caller: the file does not
 * hold the host config.
 */
export function containerFromConfigFile(c: RawContainerConfigFile, logDriver: string): ContainerRecord {
  const st = c.State;
  const status = st.Dead ? 'dead' : st.RemovalInProgress ? 'removing' : st.Restarting ? 'restarting' : st.Paused ? 'paused' : st.Running ? 'running'
    : parseTime(st.StartedAt) === undefined ? 'created' : 'exited';
  return containerFromInspect({
    Id: c.ID, Name: c.Name, Created: c.Created, Image: c.Image, Path: c.Path, Args: c.Args ?? [],
    State: { ...st, Status: status }, Config: c.Config, RestartCount: c.RestartCount,
    HostConfig: { LogConfig: { Type: logDriver, Config: {} } },
  });
}

export function localNodeFrom(info: RawEngineInfo, version: RawVersion | undefined, isLeader: boolean): LocalNode {
  const s = info.Swarm ?? ({} as RawEngineInfo['Swarm']);
  const isManager = s.ControlAvailable === true || (s.RemoteManagers ?? []).some((m) => m.NodeID === s.NodeID && s.NodeID !== '');
  return {
    engine: {
      id: info.ID,
      hostname: info.Name,
      version: info.ServerVersion,
      apiVersion: version?.ApiVersion ?? '',
      os: info.OperatingSystem,
      kernel: info.KernelVersion,
      architecture: info.Architecture,
      ncpu: info.NCPU,
      memTotal: info.MemTotal,
      cgroupDriver: info.CgroupDriver,
      cgroupVersion: info.CgroupVersion ?? '1',
      dockerRootDir: info.DockerRootDir,
    },
    swarm: {
      nodeId: s.NodeID ?? '',
      nodeAddr: s.NodeAddr ?? '',
      localState: s.LocalNodeState ?? '',
      controlAvailable: s.ControlAvailable === true,
      error: s.Error ?? '',
      isManager,
      isLeader: isManager && isLeader,
      clusterId: s.Cluster?.ID ?? '',
      managers: s.Managers,
      nodes: s.Nodes,
    },
  };
}

export function nodeFromRaw(n: RawNode): NodeRecord {
  return {
    id: n.ID,
    hostname: n.Description?.Hostname ?? '',
    role: n.Spec.Role,
    availability: n.Spec.Availability,
    state: n.Status.State,
    message: n.Status.Message ?? '',
    addr: n.Status.Addr ?? '',
    engineVersion: n.Description?.Engine?.EngineVersion ?? '',
    reachability: n.ManagerStatus?.Reachability,
    leader: n.ManagerStatus?.Leader === true,
    managerAddr: n.ManagerStatus?.Addr,
  };
}

function modeOf(s: RawService): ServiceMode {
  const m = s.Spec.Mode;
  if (m.Global) return 'global';
  if (m.ReplicatedJob) return 'replicated-job';
  if (m.GlobalJob) return 'global-job';
  return 'replicated';
}

export function serviceFromRaw(s: RawService): ServiceRecord {
  const labels = s.Spec.Labels ?? {};
  return {
    id: s.ID,
    name: s.Spec.Name,
    stack: labels['com.docker.stack.namespace'] ?? '',
    mode: modeOf(s),
    image: (s.Spec.TaskTemplate?.ContainerSpec?.Image ?? '').replace(/@sha256:[0-9a-f]+$/, ''),
    desired: s.ServiceStatus?.DesiredTasks,
    running: s.ServiceStatus?.RunningTasks,
    completed: s.ServiceStatus?.CompletedTasks,
    updateState: s.UpdateStatus?.State ?? '',
    updateMessage: s.UpdateStatus?.Message ?? '',
    labels,
  };
}

export function taskFromRaw(t: RawTask): TaskRecord {
  return {
    id: t.ID,
    serviceId: t.ServiceID,
    nodeId: t.NodeID ?? '',
    slot: t.Slot,
    desiredState: t.DesiredState,
    state: t.Status.State,
    message: t.Status.Message ?? '',
    err: t.Status.Err ?? '',
    exitCode: t.Status.ContainerStatus?.ExitCode,
    containerId: t.Status.ContainerStatus?.ContainerID,
    timestamp: Date.parse(t.Status.Timestamp) || 0,
  };
}

/** managers = nodes with ManagerStatus; quorum = ⌊managers/2⌋+1; margin = reachable − quorum (anchors §C.6). */
export function quorumOf(nodes: readonly NodeRecord[]): QuorumView {
  const managers = nodes.filter((n) => n.role === 'manager' && n.reachability !== undefined);
  const reachable = managers.filter((n) => n.reachability === 'reachable').length;
  const quorum = managers.length === 0 ? 0 : Math.floor(managers.length / 2) + 1;
  return { managers: managers.length, reachable, quorum, margin: reachable - quorum };
}
