/** The subset of Engine API objects (API ≥ 1.41) that swarmwatch reads; field names are the API's own. */
export interface RawContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Labels: Record<string, string> | null;
}

export interface RawContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  Path: string;
  Args: string[];
  State: { Status: string; Running: boolean; Paused: boolean; Restarting: boolean; OOMKilled: boolean; Dead: boolean; Pid: number; ExitCode: number; StartedAt: string; FinishedAt: string; Health?: { Status: string } };
  HostConfig: { AutoRemove?: boolean; CgroupParent?: string; Memory?: number; MemoryReservation?: number; MemorySwap?: number; NanoCpus?: number; CpuShares?: number; CpuPeriod?: number; CpuQuota?: number; LogConfig?: { Type: string; Config: Record<string, string> } };
  Config: { Image: string; Labels: Record<string, string> | null; Env: string[] | null; Tty: boolean; Hostname: string; Cmd: string[] | null; Entrypoint: string[] | string | null };
  LogPath?: string;
  RestartCount?: number;
}

/**
 * The engine's own record of a container, `<data-root>/containers/<id>/config.v2.json`: the inspect's fields under
 * the same names, except `ID` for `Id` and a `State` without `Status`; no HostConfig (that is hostconfig.json).
 */
export interface RawContainerConfigFile {
  ID: string;
  Name: string;
  Created: string;
  Image: string;
  Path: string;
  Args: string[] | null;
  State: Omit<RawContainerInspect['State'], 'Status'> & { RemovalInProgress?: boolean };
  Config: RawContainerInspect['Config'];
  RestartCount?: number;
}

export interface RawSwarmInfo {
  NodeID: string;
  NodeAddr: string;
  LocalNodeState: string;
  ControlAvailable: boolean;
  Error: string;
  RemoteManagers: { NodeID: string; Addr: string }[] | null;
  Nodes?: number;
  Managers?: number;
  Cluster?: { ID: string };
}

export interface RawEngineInfo {
  ID: string;
  Name: string;
  ServerVersion: string;
  OperatingSystem: string;
  OSType: string;
  KernelVersion: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  CgroupDriver: string;
  CgroupVersion?: string;
  DockerRootDir: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Swarm: RawSwarmInfo;
}

export interface RawVersion {
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  KernelVersion?: string;
}

export interface RawNode {
  ID: string;
  Spec: { Role: 'manager' | 'worker'; Availability: 'active' | 'pause' | 'drain'; Labels?: Record<string, string> };
  Description: { Hostname: string; Engine?: { EngineVersion: string }; Platform?: { Architecture: string; OS: string } };
  Status: { State: 'unknown' | 'down' | 'ready' | 'disconnected'; Message?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability: 'unknown' | 'unreachable' | 'reachable'; Addr: string };
}

export interface RawService {
  ID: string;
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    Mode: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number }; GlobalJob?: object };
    TaskTemplate?: { ContainerSpec?: { Image?: string } };
  };
  UpdateStatus?: { State: string; Message?: string };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number; CompletedTasks?: number };
  CreatedAt?: string;
  UpdatedAt?: string;
}

export interface RawTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  DesiredState: string;
  Status: { Timestamp: string; State: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number } };
  CreatedAt?: string;
  UpdatedAt?: string;
}

export interface RawEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: 'local' | 'swarm';
  time: number;
  timeNano: number;
  /** Legacy fields still sent by 20.10 for container events. */
  status?: string;
  id?: string;
  from?: string;
}
