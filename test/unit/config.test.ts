import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config/load.js';
import { parseDuration, type OptionSpec } from '../../core/config/spec.js';
import { coreOptions } from '../../core/options.js';
import { redact } from '../../core/log.js';

const specs: OptionSpec[] = [
  ...coreOptions,
  { key: 'demo.port', type: 'int', default: 12201, min: 1, max: 65535, description: 'port' },
  { key: 'demo.token', type: 'string', secret: true, default: '', description: 'token' },
  { key: 'demo.tags', type: 'list', default: [], description: 'tags' },
];

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'swcfg-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('parseDuration', () => {
  it('reads units, compounds and bare seconds', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('2')).toBe(2000);
    expect(parseDuration('5 s')).toBeUndefined();
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('loadConfig', () => {
  it('applies defaults, then file, then env, then flags', () => {
    const file = tmpFile('c.yml', 'demo:\n  port: 2000\nlog:\n  level: warn\n');
    const c = loadConfig({ specs, file, env: { SWARMWATCH_DEMO_PORT: '3000' }, argv: ['--log.level=debug'] });
    expect(c.int('demo.port')).toBe(3000);
    expect(c.str('log.level')).toBe('debug');
    expect(c.duration('docker.timeout')).toBe(5000);
    expect(c.str('http.listen')).toBe('0.0.0.0:9338');
  });

  it('names the environment variable and the accepted values for a bad enum', () => {
    expect(() => loadConfig({ specs, env: { SWARMWATCH_LOG_LEVEL: 'loud' } })).toThrowError(
      /log\.level from environment variable SWARMWATCH_LOG_LEVEL: "loud".*accepted values: debug, info, warn, error/,
    );
  });

  it('rejects an out-of-range port from a flag with code SW_ERR_CONFIG_INVALID', () => {
    try {
      loadConfig({ specs, argv: ['--demo.port', '70000'] });
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('SW_ERR_CONFIG_INVALID');
      expect((err as Error).message).toMatch(/--demo\.port.*70000 is out of range.*≤ 65535/);
    }
  });

  it('points at file:line for an unknown key and for malformed YAML', () => {
    const unknown = tmpFile('u.yml', 'demo:\n  port: 1\n  prot: 2\n');
    expect(() => loadConfig({ specs, file: unknown })).toThrowError(new RegExp(`${unknown}:3: unknown option "demo.prot"`));
    const broken = tmpFile('b.yml', 'demo:\n  port: [1\n');
    expect(() => loadConfig({ specs, file: broken })).toThrowError(/b\.yml:\d+: malformed YAML/);
  });

  it('reads secrets from *_FILE and masks them in log lines', () => {
    const secret = tmpFile('token', 's3cr3t-token\n');
    const c = loadConfig({ specs, env: { SWARMWATCH_DEMO_TOKEN_FILE: secret } });
    expect(c.str('demo.token')).toBe('s3cr3t-token');
    expect(redact('auth=s3cr3t-token')).toBe('auth=***');
    expect(() => loadConfig({ specs, env: { SWARMWATCH_DEMO_TOKEN_FILE: '/nonexistent/x' } })).toThrowError(/SWARMWATCH_DEMO_TOKEN_FILE/);
  });

  it('parses lists from env and YAML sequences alike', () => {
    expect(loadConfig({ specs, env: { SWARMWATCH_DEMO_TAGS: 'a, b,,c' } }).list('demo.tags')).toEqual(['a', 'b', 'c']);
    const file = tmpFile('l.yml', 'demo:\n  tags:\n    - x\n    - y\n');
    expect(loadConfig({ specs, file }).list('demo.tags')).toEqual(['x', 'y']);
  });

  it('refuses unknown flags, naming them', () => {
    expect(() => loadConfig({ specs, argv: ['--nope=1'] })).toThrowError(/unknown option --nope/);
  });
});
