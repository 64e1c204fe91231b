import { registerSecret } from '../core/log.js';
import type { AgentContext, Component, ComponentModule } from '../core/runtime/component.js';
import { alertApi } from './api/routes.js';
import { loadRoutingFile, parseHeaderList, type RoutingDefaults } from './config/routing.js';
import { AlertEngine, type AlertEngineOptions } from './engine.js';
import type { HaMode } from './ha.js';
import { alertmanagerOptions } from './options.js';
import { loadRulesFile } from './rules/config.js';

/** Routing defaults from the `alertmanager.*` options (root route timers, SMTP, the default receiver). */
export function routingDefaultsFrom(ctx: Pick<AgentContext, 'config'>): RoutingDefaults {
  const c = ctx.config;
  const webhookHeaders = parseHeaderList(c.list('alertmanager.webhook.headers'));
  // Header values often carry credentials (Authorization): mask them in every log line.
  for (const v of Object.values(webhookHeaders)) registerSecret(v);
  return {
    groupBy: c.list('alertmanager.group-by'),
    groupWaitMs: c.duration('alertmanager.group-wait'),
    groupIntervalMs: c.duration('alertmanager.group-interval'),
    repeatIntervalMs: c.duration('alertmanager.repeat-interval'),
    smtp: {
      host: c.str('alertmanager.smtp.host'), port: c.int('alertmanager.smtp.port'),
      tls: c.str('alertmanager.smtp.tls') as RoutingDefaults['smtp']['tls'],
      username: c.optStr('alertmanager.smtp.username'), password: c.optStr('alertmanager.smtp.password'),
      from: c.str('alertmanager.smtp.from'), insecureSkipVerify: c.bool('alertmanager.smtp.insecure-skip-verify'),
    },
    emailTo: c.list('alertmanager.email.to'),
    webhookUrl: c.optStr('alertmanager.webhook.url'),
    webhookHmacSecret: c.optStr('alertmanager.webhook.hmac-secret'),
    webhookHeaders,
    webhookTimeoutMs: c.duration('alertmanager.webhook.timeout'),
  };
}

/** Reads and validates every file and option; throws SW_ERR_CONFIG_INVALID (file:line: key: reason). */
export function engineOptionsFrom(ctx: Pick<AgentContext, 'config' | 'hostname'>): AlertEngineOptions {
  const c = ctx.config;
  const { rules, commonLabels } = loadRulesFile(c.optStr('alertmanager.rules-file'));
  const routing = loadRoutingFile(c.optStr('alertmanager.routing-file'), routingDefaultsFrom(ctx));
  return {
    rules, commonLabels, routing,
    stateDir: c.str('alertmanager.state-dir'),
    haMode: c.str('alertmanager.ha-mode') as HaMode,
    evaluationIntervalMs: c.duration('alertmanager.evaluation-interval'),
    faultRefreshIntervalMs: c.duration('alertmanager.fault-refresh-interval'),
    resolveTimeoutMs: c.duration('alertmanager.resolve-timeout'),
    externalURL: c.str('alertmanager.external-url'),
    retryInitialMs: c.duration('alertmanager.retry-initial'),
    retryMaxMs: c.duration('alertmanager.retry-max'),
    notifyMaxAgeMs: c.duration('alertmanager.notify-max-age'),
    historyLimit: c.int('alertmanager.history-limit'),
    hostname: () => ctx.hostname(),
  };
}

function createAlertmanager(ctx: AgentContext): Component {
  const log = ctx.log.child('alertmanager');
  // Validated here, synchronously, so that a bad rules or routing file stops the CLI with exit status 2.
  const engine = new AlertEngine(ctx.state, ctx.registry, log, engineOptionsFrom(ctx));
  ctx.app.use(alertApi(engine, { token: ctx.config.optStr('alertmanager.api-token'), maxBodyBytes: ctx.config.int('alertmanager.max-body') }));
  return {
    name: 'alertmanager',
    async start() {
      engine.start();
    },
    async stop() {
      await engine.stop();
    },
  };
}

export const alertmanagerModule: ComponentModule = {
  name: 'alertmanager',
  summary: 'Swarm-aware alert engine: built-in quorum/manager/node/task/service/container rules, Alertmanager-style routing, email and webhook',
  options: alertmanagerOptions,
  needsCluster: true,
  create: createAlertmanager,
};
