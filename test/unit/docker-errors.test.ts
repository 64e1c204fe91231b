import { describe, expect, it } from 'vitest';
import { classifyDockerError, kindOf } from '../../core/docker/classify.js';

// Messages as the engine (20.10, swarmkit) sends them and as docker-modem wraps them; see anchors §C.2, §C.6.
function modemError(statusCode: number, message: string) {
  return Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message} `), { statusCode, json: { message } });
}

describe('classifyDockerError', () => {
  it('recognises "no leader" and names the recovery', () => {
    const e = classifyDockerError(modemError(500, "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."), 'unix:///x.sock', 'GET /nodes');
    expect(e.code).toBe('SW_ERR_SWARM_NO_LEADER');
    expect(kindOf(e)).toBe('no_leader');
    expect(e.message).toMatch(/GET \/nodes on unix:\/\/\/x\.sock failed: rpc error.*force-new-cluster/);
  });

  it('recognises deadline exceeded, worker nodes and inactive nodes', () => {
    expect(classifyDockerError(modemError(500, 'rpc error: code = DeadlineExceeded desc = context deadline exceeded'), 'e', 'w').code).toBe('SW_ERR_SWARM_DEADLINE_EXCEEDED');
    expect(classifyDockerError(modemError(503, "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager."), 'e', 'w').code).toBe('SW_ERR_SWARM_NOT_MANAGER');
    expect(classifyDockerError(modemError(503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'), 'e', 'w').code).toBe('SW_ERR_SWARM_INACTIVE');
  });

  it('maps socket errors to unreachable and permission', () => {
    const enoent = Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' });
    const e = classifyDockerError(enoent, 'unix:///var/run/docker.sock', 'GET /info');
    expect(e.code).toBe('SW_ERR_DOCKER_UNREACHABLE');
    expect(e.message).toMatch(/DOCKER_HOST/);
    expect(classifyDockerError(Object.assign(new Error('connect EACCES'), { code: 'EACCES' }), 'e', 'w').code).toBe('SW_ERR_DOCKER_PERMISSION');
    expect(classifyDockerError(modemError(404, 'No such container: abc'), 'e', 'w').code).toBe('SW_ERR_DOCKER_NOT_FOUND');
  });

  it('tells a log driver that keeps nothing to read (none) from a failed logs request, and names the fix', () => {
    // What the engine answered the shipper's logs request for a container started with --log-driver none.
    const e = classifyDockerError(modemError(501, 'configured logging driver does not support reading'), 'e', 'GET /containers/abc/logs');
    expect(e.code).toBe('SW_ERR_DOCKER_LOGS_UNREADABLE');
    expect(e.message).toMatch(/does not support reading — .*json-file or local.*dual logging/);
  });
});
