/** Label filters shared by the dashboards, so every panel honours the stack/service/node variables alike. */

/** Container families (cAdvisor-compatible): Swarm labels of the task, plus the scrape target's node. */
export const CONTAINER = 'container_label_com_docker_stack_namespace=~"$stack", container_label_com_docker_swarm_service_name=~"$service", swarm_node=~"$node", name!=""';
/** Per-node families of the agent, the relayed engine metrics and node-exporter. */
export const NODE = 'swarm_node=~"$node"';
/** Service families of the managers' cluster view. */
export const SERVICE = 'stack=~"$stack", service_name=~"$service"';
/** Node families of the managers' cluster view (host name as Swarm reports it). */
export const CLUSTER_NODE = 'hostname=~"$node"';
/** Grafana's interval for rate(): at least four scrape intervals. */
export const RATE = '$__rate_interval';
