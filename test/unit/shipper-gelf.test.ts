import gelfPro from 'gelf-pro';
import { describe, expect, it } from 'vitest';
import type { ContainerRecord } from '../../core/state/types.js';
import { containerFields, fieldName, GelfEncoder, renderTag, type MessageContext } from '../../log-shipper/gelf-message.js';
import { bodyOf } from '../../log-shipper/shipper.js';

export const sampleContainer: ContainerRecord = {
  id: 'a'.repeat(64), name: 'web.1.xyz', image: 'busybox:latest', imageId: 'sha256:' + 'b'.repeat(64), command: 'sh -c echo hi',
  createdAt: 1700000000.5, createdIso: '2023-11-14T22:13:20.500000001Z', state: 'running', pid: 1, tty: false,
  labels: { 'com.docker.swarm.service.name': 'web', 'team/owner': 'ops', id: 'x' }, env: ['PATH=/bin', 'APP_MODE=prod'],
  health: 'none', oomKilled: false, exitCode: 0, restartCount: 0, cgroupParent: '', logDriver: 'json-file', autoRemove: false,
  swarm: { serviceName: 'web', serviceId: 'svc1', taskName: 'web.1.xyz', taskId: 'task1', nodeId: 'node1', stackNamespace: 'shop' },
};
const ctx: MessageContext = { host: 'node-a', nodeId: 'node1', nodeHostname: 'node-a', tagTemplate: '{{.ID}}', labels: ['team/owner'], labelsRegex: /^com\.docker\.swarm\./, env: ['APP_MODE'], envRegex: undefined };

describe('GELF message building', () => {
  it('has every key Docker\'s gelf driver sends, plus Swarm fields, with valid Graylog field names', () => {
    const enc = new GelfEncoder(containerFields(sampleContainer, ctx), ctx.host);
    const msg = JSON.parse(enc.encode({ shortMessage: 'hello "world"\n', time: { sec: 1700000001, nsec: 123456789 }, level: 3 }));
    for (const k of ['version', 'host', 'short_message', 'timestamp', 'level', '_command', '_container_id', '_container_name', '_created', '_image_id', '_image_name', '_tag']) expect(msg).toHaveProperty([k]);
    expect(msg).toMatchObject({
      version: '1.1', host: 'node-a', short_message: 'hello "world"\n', level: 3, _tag: 'aaaaaaaaaaaa', _created: sampleContainer.createdIso,
      _service_name: 'web', _service_id: 'svc1', _task_name: 'web.1.xyz', _task_id: 'task1', _stack_name: 'shop', _node_id: 'node1', _node_hostname: 'node-a',
      '_com.docker.swarm.service.name': 'web', _team_owner: 'ops', _APP_MODE: 'prod',
    });
    expect(msg).not.toHaveProperty('_id');
    for (const k of Object.keys(msg)) expect(k).toMatch(/^[\w.-]*$/);
    expect(Object.values(msg).every((v) => typeof v === 'string' || typeof v === 'number')).toBe(true);
  });

  it('writes the timestamp with every nanosecond digit', () => {
    const enc = new GelfEncoder({}, 'h');
    expect(enc.encode({ shortMessage: 'x', time: { sec: 1700000001, nsec: 5 }, level: 6 })).toContain('"timestamp":1700000001.000000005,');
  });

  it('agrees with gelf-pro\'s own message builder on the fields both produce', () => {
    const fields = { _container_id: 'abc', _container_name: 'n' };
    const ours = JSON.parse(new GelfEncoder(fields, 'h').encode({ shortMessage: 'line', fullMessage: 'line\nmore', time: { sec: 1700000001, nsec: 250000000 }, level: 6 }));
    const theirs = JSON.parse(gelfPro.getStringFromObject({ short_message: 'line', full_message: 'line\nmore', host: 'h', level: 6, timestamp: 1700000001.25, container_id: 'abc', container_name: 'n' }));
    expect(ours).toEqual(theirs);
  });

  it('marks truncated records and sends full_message only for multiline records', () => {
    const rec = { stream: 'stdout' as const, time: { sec: 1, nsec: 0 }, lines: ['a', 'b'], cursor: { time: { sec: 1, nsec: 0 }, count: 1 }, frames: 2 };
    expect(bodyOf(rec)).toMatchObject({ shortMessage: 'a', fullMessage: 'a\nb', level: 6 });
    expect(bodyOf({ ...rec, lines: [''] }).shortMessage).toBe(' ');
    expect(bodyOf({ ...rec, lines: ['abcdef'] }, 3)).toMatchObject({ shortMessage: 'abc', truncatedFromBytes: 6 });
  });

  it('renders tag templates and sanitizes field names', () => {
    expect(renderTag('{{.Name}}/{{.ImageName}}/{{.ImageID}}/{{ .ServiceName }}/{{.Unknown}}', sampleContainer, 'docker')).toBe('web.1.xyz/busybox:latest/bbbbbbbbbbbb/web/{{.Unknown}}');
    expect(fieldName('id')).toBe('_id_');
    expect(fieldName('_already')).toBe('_already');
    expect(fieldName('a b:c')).toBe('_a_b_c');
  });
});
