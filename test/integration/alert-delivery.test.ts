/**
 * The alert engine as its own process, started through the real CLI (`node dist/cli/main.js alertmanager`), against a private Docker engine, a real SMTP server (Debian aiosmtpd,
 * with AUTH) and a real webhook receiver (a stdlib Python server). The fault is real: the Docker engine is
 * SIGKILLed (EngineUnreachable) and started again (resolved).
 */
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type PrivateEngine } from '../bed/index.js';
import { freePort } from '../support/agent.js';
import {
  CLI, readMaildir, readWebhooks, runAlertEngineOnce, sleep, startAlertEngine, startSmtpReceiver, startWebhookReceiver, waitUntil, type Proc,
} from '../fixtures/alerts/harness.js';
import { fixturePath } from '../fixtures/alerts/fake-state.js';
import { startPrometheus } from '../support/prometheus.js';

const SECRETS = { smtp: 'smtp-pass-7Hq2', hmac: 'hmac-key-Zp91', token: 'api-token-Lm44' };
let work: string;
let engine: PrivateEngine;
let webhook: Proc;
let smtp: Proc | undefined;
let am: (Proc & { url: string }) | undefined;
let smtpPort: number;
let whPort: number;
let amPort: number;
const logs: string[] = [];

const maildir = () => join(work, 'mail');
const hooks = () => readWebhooks(join(work, 'hooks.jsonl'));
const engineHooks = (status: string) => hooks().filter((h) => h.payload.groupKey.includes('EngineUnreachable') && h.payload.status === status);
const mails = (tag: string) => readMaildir(maildir()).filter((m) => m.subject.includes(tag) && m.subject.includes('EngineUnreachable'));

function amArgs(): string[] {
  return [
    `--alertmanager.state-dir=${join(work, 'state')}`,
    '--alertmanager.smtp.host=127.0.0.1', `--alertmanager.smtp.port=${smtpPort}`, '--alertmanager.smtp.tls=none',
    '--alertmanager.smtp.username=swarmwatch', '--alertmanager.smtp.from=swarmwatch@test.invalid', '--alertmanager.email.to=ops@test.invalid',
    `--alertmanager.webhook.url=http://127.0.0.1:${whPort}/hook`, '--alertmanager.webhook.headers=X-Team: core',
    '--alertmanager.group-interval=2s', '--alertmanager.retry-initial=300ms', '--alertmanager.retry-max=1s',
    '--alertmanager.external-url=http://alerts.test.invalid',
  ];
}

function amEnv(): Record<string, string> {
  return {
    DOCKER_HOST: engine.dockerHost,
    SWARMWATCH_ALERTMANAGER_SMTP_PASSWORD_FILE: join(work, 'smtp-password'),
    SWARMWATCH_ALERTMANAGER_WEBHOOK_HMAC_SECRET_FILE: join(work, 'hmac-secret'),
    SWARMWATCH_ALERTMANAGER_API_TOKEN_FILE: join(work, 'api-token'),
  };
}

async function startAm(): Promise<void> {
  am = await startAlertEngine(amPort, amArgs(), amEnv());
}

async function stopAm(signal: NodeJS.Signals): Promise<void> {
  if (!am) return;
  await am.stop(signal);
  logs.push(am.output());
  am = undefined;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` (scripts/test.sh does it)');
  work = mkdtempSync(join(tmpdir(), 'swalert-int-'));
  writeFileSync(join(work, 'smtp-password'), `${SECRETS.smtp}\n`);
  writeFileSync(join(work, 'hmac-secret'), SECRETS.hmac);
  writeFileSync(join(work, 'api-token'), SECRETS.token);
  [smtpPort, whPort, amPort] = [await freePort(), await freePort(), await freePort()];
  engine = await startEngine({ name: 'alrt', defaultBridge: false });
  webhook = await startWebhookReceiver(whPort, join(work, 'hooks.jsonl'));
});

afterAll(async () => {
  await stopAm('SIGTERM');
  await smtp?.stop();
  await webhook?.stop();
  await engine?.stop({ graceful: false });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('alert delivery with real receivers', () => {
  it('SMTP down during a fault, alert engine killed -9 mid-fault: every notification arrives exactly once', async () => {
    await startAm();
    // The fault: this node's Docker engine dies.
    const t0 = Date.now();
    await engine.kill();
    await waitUntil(() => engineHooks('firing').length > 0, 15_000, 'EngineUnreachable by webhook');
    const faultToWebhook = (Date.now() - t0) / 1000;
    expect(faultToWebhook).toBeLessThan(5);
    const hook = engineHooks('firing')[0]!;
    expect(hook.headers['x-swarmwatch-signature']).toBe(`sha256=${createHmac('sha256', SECRETS.hmac).update(hook.body).digest('hex')}`);
    expect(hook.headers['x-team']).toBe('core');
    expect(hook.payload).toMatchObject({ version: '4', status: 'firing', receiver: 'default', externalURL: 'http://alerts.test.invalid' });
    expect(hook.payload.alerts[0]!.labels).toMatchObject({ alertname: 'EngineUnreachable', severity: 'critical' });

    // SMTP is down: the email waits in the durable outbox, retried with backoff.
    await waitUntil(async () => /swarmwatch_alert_notification_retries_total\{receiver="default",integration="email"\} [1-9]/.test(await (await fetch(`${am!.url}/metrics`)).text()), 10_000, 'an email retry');
    expect(await (await fetch(`${am!.url}/metrics`)).text()).toMatch(/swarmwatch_alert_outbox_pending 1/);

    // kill -9 with the email undelivered, then SMTP comes back, then the alert engine.
    await stopAm('SIGKILL');
    smtp = await startSmtpReceiver(smtpPort, maildir(), { user: 'swarmwatch', password: SECRETS.smtp });
    await startAm();
    await waitUntil(() => mails('[FIRING:1]').length === 1, 15_000, 'the firing email').catch((err) => { throw new Error(`${(err as Error).message}\n--- alert engine:\n${am!.output()}\n--- before restart:\n${logs.join('\n')}\n--- smtp:\n${smtp!.output()}`); });
    await sleep(5000); // two group intervals, several retry periods
    expect(mails('[FIRING:1]')).toHaveLength(1);
    expect(engineHooks('firing')).toHaveLength(1);
    const mail = mails('[FIRING:1]')[0]!;
    expect(mail.raw).toMatch(/Content-Type: text\/plain/);
    expect(mail.raw).toMatch(/Content-Type: text\/html/);
    expect(mail.raw).toMatch(/X-Swarmwatch-Notification-Id: [0-9a-f]{32}/i);

    // Recovery: the engine returns → one resolved email and one resolved webhook.
    await engine.start();
    await waitUntil(() => engineHooks('resolved').length === 1 && mails('[RESOLVED]').length === 1, 30_000, 'resolved notifications');
    await sleep(4500);
    expect(engineHooks('resolved')).toHaveLength(1);
    expect(mails('[RESOLVED]')).toHaveLength(1);
    expect(engineHooks('firing')).toHaveLength(1);
    expect(mails('[FIRING:1]')).toHaveLength(1);

    const history = await (await fetch(`${am!.url}/api/v2/notifications`)).json() as { integration: string; outcome: string; status: string }[];
    expect(history.filter((h) => h.outcome === 'sent').map((h) => `${h.integration}:${h.status}`).sort()).toEqual(['email[0]:firing', 'email[0]:resolved', 'webhook[1]:firing', 'webhook[1]:resolved']);
    console.log(`[alert-delivery] fault → webhook ${faultToWebhook.toFixed(2)} s`);
  });

  it('Prometheus (Debian) posting to /api/v2/alerts with a bearer token: routed and delivered', async () => {
    if (!am) await startAm();
    writeFileSync(join(work, 'rules.yml'), 'groups:\n- name: t\n  interval: 1s\n  rules:\n  - alert: PromPosted\n    expr: vector(1)\n    labels: {severity: info}\n    annotations: {summary: from prometheus}\n');
    const prom = await startPrometheus(work, [
      'global: {scrape_interval: 1s, evaluation_interval: 1s}',
      `rule_files: ["${join(work, 'rules.yml')}"]`,
      'alerting:',
      '  alertmanagers:',
      '  - api_version: v2',
      `    authorization: {type: Bearer, credentials_file: "${join(work, 'api-token')}"}`,
      `    static_configs: [{targets: ["127.0.0.1:${amPort}"]}]`,
    ].join('\n'), ['--rules.alert.resend-delay=1s']);
    try {
      await waitUntil(() => hooks().some((h) => h.payload.alerts.some((a) => a.labels.alertname === 'PromPosted')), 45_000, 'PromPosted by webhook', 200);
      const h = hooks().find((x) => x.payload.alerts.some((a) => a.labels.alertname === 'PromPosted'))!;
      expect(h.payload.groupKey).toBe('{}:{alertname="PromPosted"}');
      expect(h.payload.alerts[0]!.status).toBe('firing');
    } finally {
      await prom.stop();
    }
  });

  it('no secret appears in logs, metrics, history or state', async () => {
    if (!am) await startAm();
    const texts = [
      ...logs, am!.output(), await (await fetch(`${am!.url}/metrics`)).text(), await (await fetch(`${am!.url}/api/v2/notifications`)).text(),
      readFileSync(join(work, 'state', 'state.json'), 'utf8'),
    ];
    for (const t of texts) for (const s of Object.values(SECRETS)) expect(t).not.toContain(s);
  });

  it('bad input through the real CLI: exit status 2 naming file:line (or the option)', async () => {
    const common = [`--alertmanager.state-dir=${join(work, 'x')}`, '--http.listen=127.0.0.1:0'];
    const env = { DOCKER_HOST: engine.dockerHost };
    const cases: [string[], RegExp][] = [
      [[`--alertmanager.rules-file=${fixturePath('config/rules-malformed.yml')}`], /rules-malformed\.yml:\d+: malformed YAML/],
      [[`--alertmanager.rules-file=${fixturePath('config/rules-bad-duration.yml')}`], /rules-bad-duration\.yml:4: rules\.SwarmServiceDegraded\.for: "soon" is not a duration/],
      [[`--alertmanager.rules-file=${fixturePath('config/rules-unknown-rule.yml')}`], /rules-unknown-rule\.yml:4: rules\.SwarmQuorumGone: unknown rule/],
      [[`--alertmanager.routing-file=${fixturePath('config/routing-unknown-receiver.yml')}`], /routing-unknown-receiver\.yml:5: route\.routes\[0\]\.receiver: unknown receiver "pager"/],
      [[`--alertmanager.routing-file=${fixturePath('config/routing-bad-interval.yml')}`], /routing-bad-interval\.yml:3: route\.group_interval: "5 minutes" is not a duration/],
      [['--alertmanager.group-wait=5x'], /alertmanager\.group-wait.*"5x" is not a duration/],
    ];
    const results = await Promise.all(cases.map(([args]) => runAlertEngineOnce([...args, ...common], env)));
    results.forEach((r, i) => {
      expect(r.code, r.output).toBe(2);
      expect(r.output).toMatch(cases[i]![1]);
      expect(r.output).not.toMatch(/fatal|at .*\.js:\d+/); // a message, not a stack trace
    });
    // `agent` (every component in one process) validates the alert engine's files the same way.
    const agent = await runAlertEngineOnce([`--alertmanager.rules-file=${fixturePath('config/rules-bad-duration.yml')}`, ...common], env, 15_000, 'agent');
    expect(agent.code, agent.output).toBe(2);
    expect(agent.output).toMatch(/rules-bad-duration\.yml:4: rules\.SwarmServiceDegraded\.for/);
  });
});
