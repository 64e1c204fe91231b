import type { OptionSpec } from '../core/config/spec.js';

/** Options of the container (cgroup) collector of the exporter. */
export const containerOptions: OptionSpec[] = [
  {
    key: 'exporter.host-root', type: 'path', default: '/',
    description: 'Where the host\'s / is visible (like cAdvisor\'s rootfs): cgroups are read from <host-root>/sys/fs/cgroup, processes from <host-root>/proc; in a container mount the host\'s / read-only at e.g. /rootfs',
  },
  {
    key: 'exporter.container-labels', type: 'list', default: [],
    description: 'Extra Docker label keys exported on every container_* series as container_label_<key, [^a-zA-Z0-9_] → _> (the Swarm service/task/node/stack labels are always exported)',
  },
  {
    key: 'exporter.percpu', type: 'bool', default: false,
    description: 'Split container_cpu_usage_seconds_total per CPU (cpu="cpu00"…) instead of cpu="total" (cgroup v1 only; v2 has no per-CPU data)',
  },
  {
    key: 'exporter.cgroup-driver', type: 'enum', values: ['auto', 'cgroupfs', 'systemd'], default: 'auto',
    description: 'Cgroup naming used when a container\'s cgroup cannot be read from /proc/<pid>/cgroup; auto takes the engine\'s CgroupDriver',
  },
];
