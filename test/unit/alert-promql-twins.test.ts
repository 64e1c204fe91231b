import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const rules = fileURLToPath(new URL('../../deploy/prometheus/rules/', import.meta.url));

describe('PromQL twins of the built-in rules', () => {
  it.skipIf(!existsSync('/usr/bin/promtool'))('promtool check rules and promtool test rules pass', () => {
    const check = execFileSync('/usr/bin/promtool', ['check', 'rules', `${rules}swarm-alerts.yml`], { encoding: 'utf8' });
    expect(check).toMatch(/SUCCESS: 14 rules found/);
    const test = execFileSync('/usr/bin/promtool', ['test', 'rules', `${rules}tests/swarm-alerts-test.yml`], { encoding: 'utf8' });
    expect(test).toMatch(/SUCCESS/);
  });
});
