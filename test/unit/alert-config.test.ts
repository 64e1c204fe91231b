import { describe, expect, it } from 'vitest';
import { loadRulesFile, parseRules } from '../../alertmanager/rules/config.js';
import { loadRoutingFile, type RoutingDefaults } from '../../alertmanager/config/routing.js';
import { YamlCursor } from '../../alertmanager/config/yaml-reader.js';
import { parseRouting } from '../../alertmanager/config/routing.js';
import { fixturePath } from '../fixtures/alerts/fake-state.js';

const defaults: RoutingDefaults = {
  groupBy: ['alertname'], groupWaitMs: 1000, groupIntervalMs: 30_000, repeatIntervalMs: 4 * 3600_000,
  smtp: { host: 'smtp.example', port: 587, tls: 'starttls', from: 'sw@example', insecureSkipVerify: false },
  emailTo: [], webhookHeaders: {}, webhookTimeoutMs: 10_000,
};

function errorOf(fn: () => unknown): { code: string; message: string } {
  try { fn(); } catch (err) { return err as { code: string; message: string }; }
  throw new Error('expected an error');
}

describe('rules file', () => {
  it('applies for, severity, thresholds, enabled and common labels', () => {
    const { rules, commonLabels } = loadRulesFile(fixturePath('config/rules-ok.yml'));
    const deg = rules.get('SwarmServiceDegraded')!;
    expect(deg).toMatchObject({ forMs: 2000, severity: 'critical', params: { min_ratio: 0.5 } });
    expect(rules.get('SwarmNodeUnavailable')!.enabled).toBe(false);
    expect(commonLabels).toEqual({ cluster: 'test' });
  });

  it('a bad duration names file:line and key', () => {
    const e = errorOf(() => loadRulesFile(fixturePath('config/rules-bad-duration.yml')));
    expect(e.code).toBe('SW_ERR_CONFIG_INVALID');
    expect(e.message).toMatch(/rules-bad-duration\.yml:4: rules\.SwarmServiceDegraded\.for: "soon" is not a duration/);
  });

  it('an unknown rule names its line', () => {
    const e = errorOf(() => loadRulesFile(fixturePath('config/rules-unknown-rule.yml')));
    expect(e.message).toMatch(/rules-unknown-rule\.yml:4: rules\.SwarmQuorumGone: unknown rule "SwarmQuorumGone"/);
  });

  it('malformed YAML names its line', () => {
    const e = errorOf(() => loadRulesFile(fixturePath('config/rules-malformed.yml')));
    expect(e.code).toBe('SW_ERR_CONFIG_INVALID');
    expect(e.message).toMatch(/rules-malformed\.yml:\d+: malformed YAML/);
  });

  it('unknown keys, bad severities and reserved labels are refused', () => {
    expect(errorOf(() => parseRulesText('rules:\n  SwarmQuorumLost:\n    severty: critical\n')).message).toMatch(/x\.yml:3: rules\.SwarmQuorumLost\.severty: unknown key "severty"/);
    expect(errorOf(() => parseRulesText('rules:\n  SwarmQuorumLost:\n    severity: urgent\n')).message).toMatch(/x\.yml:3: .*"urgent" is not a severity/);
    expect(errorOf(() => parseRulesText('rules:\n  SwarmQuorumLost:\n    labels: {alertname: x}\n')).message).toMatch(/set by the rule itself/);
    expect(errorOf(() => parseRulesText('rules:\n  ContainerRestartLoop:\n    restarts: 0\n')).message).toMatch(/x\.yml:3: rules\.ContainerRestartLoop\.restarts: 0 is out of range/);
  });
});

function parseRulesText(text: string) {
  return parseRules(YamlCursor.parse('x.yml', text));
}

describe('routing file', () => {
  it('an unknown receiver in a route names file:line and key', () => {
    const e = errorOf(() => loadRoutingFile(fixturePath('config/routing-unknown-receiver.yml'), defaults));
    expect(e.code).toBe('SW_ERR_CONFIG_INVALID');
    expect(e.message).toMatch(/routing-unknown-receiver\.yml:5: route\.routes\[0\]\.receiver: unknown receiver "pager"/);
  });

  it('a bad interval names file:line and key', () => {
    const e = errorOf(() => loadRoutingFile(fixturePath('config/routing-bad-interval.yml'), defaults));
    expect(e.message).toMatch(/routing-bad-interval\.yml:3: route\.group_interval: "5 minutes" is not a duration/);
  });

  it('builds the route tree with Alertmanager keys, inherited timers, receivers and inhibit rules', () => {
    const cfg = parseRouting(YamlCursor.parse('r.yml', [
      'route:',
      '  receiver: ops',
      '  group_by: [alertname]',
      '  group_wait: 2s',
      '  routes:',
      '    - matchers: [\'severity="critical"\']',
      '      receiver: pager',
      '      continue: true',
      '      group_by: [\'...\']',
      'receivers:',
      '  - name: ops',
      '    email_configs: [{ to: ops@example, smarthost: "mail:25", tls: none }]',
      '  - name: pager',
      '    webhook_configs: [{ url: "http://hook/x?token=abc", hmac_secret: s3cret, headers: { X-Team: core } }]',
      'inhibit_rules:',
      '  - source_matchers: [\'alertname="SwarmNodeDown"\']',
      '    target_matchers: [\'alertname="SwarmManagerUnreachable"\']',
      '    equal: [node_id]',
    ].join('\n')), defaults);
    expect(cfg.route.key).toBe('{}');
    expect(cfg.route.routes[0]!.key).toBe('{}/{severity="critical"}');
    expect(cfg.route.routes[0]!.groupWaitMs).toBe(2000);
    expect(cfg.route.routes[0]!.groupBy).toBeNull();
    expect(cfg.receivers.get('ops')!.integrations[0]).toMatchObject({ kind: 'email', host: 'mail', port: 25, tls: 'none', from: 'sw@example' });
    expect(cfg.receivers.get('pager')!.integrations[0]).toMatchObject({ kind: 'webhook', hmacSecret: 's3cret', headers: { 'X-Team': 'core' } });
    expect(cfg.inhibitRules).toHaveLength(2);
  });

  it('without a routing file, options make the default receiver', () => {
    const cfg = loadRoutingFile(undefined, { ...defaults, emailTo: ['a@b'], webhookUrl: 'http://x/y' });
    expect(cfg.receivers.get('default')!.integrations.map((i) => i.kind)).toEqual(['email', 'webhook']);
    expect(cfg.inhibitRules[0]!.sourceMatchers[0]!.value).toBe('SwarmQuorumLost');
  });
});
