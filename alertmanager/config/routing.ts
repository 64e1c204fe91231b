import { readFileSync } from 'node:fs';
import { registerSecret } from '../../core/log.js';
import { matcherString, parseMatcher, type Matcher } from '../matchers.js';
import { YamlCursor } from './yaml-reader.js';

/** SMTP settings shared by every email receiver unless it overrides them (Alertmanager's `global.smtp_*`). */
export interface SmtpDefaults {
  host: string;
  port: number;
  tls: 'starttls' | 'tls' | 'none';
  username?: string;
  password?: string;
  from: string;
  insecureSkipVerify: boolean;
}

export interface EmailTarget extends SmtpDefaults {
  kind: 'email';
  to: string[];
  sendResolved: boolean;
  headers: Record<string, string>;
}

export interface WebhookTarget {
  kind: 'webhook';
  url: string;
  sendResolved: boolean;
  /** 0 = all alerts. */
  maxAlerts: number;
  timeoutMs: number;
  headers: Record<string, string>;
  /** HMAC-SHA256 key for the X-Swarmwatch-Signature header. */
  hmacSecret?: string;
}

export type Integration = EmailTarget | WebhookTarget;

export interface ReceiverConfig {
  name: string;
  integrations: Integration[];
}

export interface RouteTimers {
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

export interface RouteNode extends RouteTimers {
  /** Alertmanager's route key: `{}` for the root, `{}/{severity="critical"}` below it. */
  key: string;
  receiver: string;
  /** `null` means `['...']`: group by every label. */
  groupBy: string[] | null;
  matchers: Matcher[];
  continue: boolean;
  routes: RouteNode[];
}

export interface InhibitRule {
  sourceMatchers: Matcher[];
  targetMatchers: Matcher[];
  equal: string[];
}

export interface RoutingConfig {
  route: RouteNode;
  receivers: Map<string, ReceiverConfig>;
  inhibitRules: InhibitRule[];
}

/** Options-level defaults: used for the root route and for the receiver built when no routing file is given. */
export interface RoutingDefaults extends RouteTimers {
  groupBy: string[];
  smtp: SmtpDefaults;
  emailTo: string[];
  webhookUrl?: string;
  webhookHmacSecret?: string;
  webhookHeaders: Record<string, string>;
  webhookTimeoutMs: number;
}

/** Quorum loss causes manager-unreachable, node-down and at-risk alerts; they add nothing while it lasts. */
export const builtinInhibitRules: InhibitRule[] = [{
  sourceMatchers: [{ name: 'alertname', type: '=', value: 'SwarmQuorumLost' }],
  targetMatchers: [{ name: 'alertname', type: '=~', value: 'SwarmManagerUnreachable|SwarmNodeDown|SwarmQuorumAtRisk|SwarmLeaderChanged' }],
  equal: [],
}];

export const DEFAULT_RECEIVER = 'default';

/** Parses "Name: value" header options. */
export function parseHeaderList(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i > 0) out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

function defaultReceiver(d: RoutingDefaults): ReceiverConfig {
  const integrations: Integration[] = [];
  if (d.emailTo.length > 0 && d.smtp.host) integrations.push({ kind: 'email', ...d.smtp, to: d.emailTo, sendResolved: true, headers: {} });
  if (d.webhookUrl) integrations.push({ kind: 'webhook', url: d.webhookUrl, sendResolved: true, maxAlerts: 0, timeoutMs: d.webhookTimeoutMs, headers: d.webhookHeaders, hmacSecret: d.webhookHmacSecret });
  return { name: DEFAULT_RECEIVER, integrations };
}

export function defaultRouting(d: RoutingDefaults): RoutingConfig {
  return {
    route: { key: '{}', receiver: DEFAULT_RECEIVER, groupBy: d.groupBy, matchers: [], continue: false, routes: [], groupWaitMs: d.groupWaitMs, groupIntervalMs: d.groupIntervalMs, repeatIntervalMs: d.repeatIntervalMs },
    receivers: new Map([[DEFAULT_RECEIVER, defaultReceiver(d)]]),
    inhibitRules: [...builtinInhibitRules],
  };
}

function readSecret(c: YamlCursor, inline: YamlCursor, file: YamlCursor): string | undefined {
  if (!inline.missing && !file.missing) throw c.error(`give either ${inline.path.split('.').pop()} or ${file.path.split('.').pop()}, not both`);
  let value: string | undefined;
  if (!inline.missing) value = inline.string();
  if (!file.missing) {
    const path = file.string();
    try {
      value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw file.error(`cannot read secret file ${path}: ${(err as Error).message}`);
    }
  }
  registerSecret(value);
  return value;
}

function readMatchers(c: YamlCursor): Matcher[] {
  return c.items().map((item) => {
    const m = parseMatcher(item.string());
    if (typeof m === 'string') throw item.error(m);
    return m;
  });
}

/** `match: {a: b}` and `match_re: {a: re}` are Alertmanager's legacy forms; accepted for copy-pasted configs. */
function readAllMatchers(f: Record<string, YamlCursor>): Matcher[] {
  const out = readMatchers(f.matchers!);
  for (const [k, v] of Object.entries(f.match!.stringMap())) out.push({ name: k, type: '=', value: v });
  for (const [k, c] of f.match_re!.entries()) {
    const m = parseMatcher(`${k}=~${JSON.stringify(c.string())}`);
    if (typeof m === 'string') throw c.error(m);
    out.push(m);
  }
  return out;
}

function readEmail(c: YamlCursor, d: RoutingDefaults): EmailTarget {
  const f = c.fields(['to', 'from', 'smarthost', 'tls', 'auth_username', 'auth_password', 'auth_password_file', 'insecure_skip_verify', 'send_resolved', 'headers']);
  let host = d.smtp.host;
  let port = d.smtp.port;
  if (!f.smarthost!.missing) {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(f.smarthost!.string());
    if (!m) throw f.smarthost!.error(`"${f.smarthost!.string()}" is not host:port`);
    host = m[1]!;
    port = Number(m[2]);
  }
  if (!host) throw c.error('no SMTP server: set smarthost here or the option alertmanager.smtp.host');
  const tls = f.tls!.string(d.smtp.tls);
  if (!['starttls', 'tls', 'none'].includes(tls)) throw f.tls!.error(`"${tls}" is not one of starttls, tls, none`);
  const to = f.to!.stringList(d.emailTo);
  if (to.length === 0) throw f.to!.error('at least one recipient is required');
  const from = f.from!.string(d.smtp.from);
  if (!from) throw f.from!.error('is required (or set alertmanager.smtp.from)');
  const password = readSecret(c, f.auth_password!, f.auth_password_file!) ?? d.smtp.password;
  return {
    kind: 'email', host, port, tls: tls as EmailTarget['tls'], username: f.auth_username!.missing ? d.smtp.username : f.auth_username!.string(), password, from, to,
    insecureSkipVerify: f.insecure_skip_verify!.bool(d.smtp.insecureSkipVerify), sendResolved: f.send_resolved!.bool(true), headers: f.headers!.stringMap(),
  };
}

function readWebhook(c: YamlCursor, d: RoutingDefaults): WebhookTarget {
  const f = c.fields(['url', 'url_file', 'send_resolved', 'max_alerts', 'timeout', 'headers', 'hmac_secret', 'hmac_secret_file']);
  const url = readSecret(c, f.url!, f.url_file!);
  if (!url) throw c.error('url (or url_file) is required');
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('only http and https are accepted');
  } catch (err) {
    throw (f.url!.missing ? f.url_file! : f.url!).error(`invalid URL: ${(err as Error).message}`);
  }
  return {
    kind: 'webhook', url, sendResolved: f.send_resolved!.bool(true), maxAlerts: f.max_alerts!.number(0, 0, undefined, true),
    timeoutMs: f.timeout!.duration(d.webhookTimeoutMs, 100), headers: f.headers!.stringMap(), hmacSecret: readSecret(c, f.hmac_secret!, f.hmac_secret_file!),
  };
}

const ROUTE_KEYS = ['receiver', 'group_by', 'matchers', 'match', 'match_re', 'continue', 'group_wait', 'group_interval', 'repeat_interval', 'routes'];

function readRoute(c: YamlCursor, parent: RouteNode | undefined, d: RoutingDefaults, receivers: Map<string, ReceiverConfig>, index: number): RouteNode {
  const f = c.fields(ROUTE_KEYS);
  const receiverName = f.receiver!.string(parent?.receiver ?? '');
  if (!receiverName) throw f.receiver!.error('the root route needs a receiver');
  if (!receivers.has(receiverName)) throw f.receiver!.error(`unknown receiver "${receiverName}"; defined receivers: ${[...receivers.keys()].join(', ') || 'none'}`);
  const matchers = parent ? readAllMatchers(f) : [];
  if (!parent && (!f.matchers!.missing || !f.match!.missing || !f.match_re!.missing)) throw c.error('the root route matches every alert; it takes no matchers');
  const groupByList = f.group_by!.missing ? undefined : f.group_by!.stringList();
  const groupBy = groupByList === undefined ? (parent ? parent.groupBy : d.groupBy) : groupByList.includes('...') ? null : groupByList;
  const key = parent ? `${parent.key}/{${matchers.map(matcherString).join(',')}}` : '{}';
  const node: RouteNode = {
    key: parent && parent.routes.some((r) => r.key === key) ? `${key}/${index}` : key,
    receiver: receiverName, groupBy, matchers, continue: f.continue!.bool(false), routes: [],
    groupWaitMs: f.group_wait!.duration(parent?.groupWaitMs ?? d.groupWaitMs),
    groupIntervalMs: f.group_interval!.duration(parent?.groupIntervalMs ?? d.groupIntervalMs, 1),
    repeatIntervalMs: f.repeat_interval!.duration(parent?.repeatIntervalMs ?? d.repeatIntervalMs, 1),
  };
  f.routes!.items().forEach((child, i) => node.routes.push(readRoute(child, node, d, receivers, i)));
  return node;
}

/**
 * Reads an Alertmanager-style routing file (route, receivers with email_configs/webhook_configs, inhibit_rules).
 * Errors name file:line and key; an unknown receiver in a route is an error, as in Alertmanager.
 */
export function parseRouting(root: YamlCursor, d: RoutingDefaults): RoutingConfig {
  const top = root.fields(['route', 'receivers', 'inhibit_rules', 'builtin_inhibit_rules']);
  const receivers = new Map<string, ReceiverConfig>();
  for (const rc of top.receivers!.items()) {
    const f = rc.fields(['name', 'email_configs', 'webhook_configs']);
    const name = f.name!.string();
    if (receivers.has(name)) throw f.name!.error(`receiver "${name}" is defined twice`);
    receivers.set(name, { name, integrations: [...f.email_configs!.items().map((c) => readEmail(c, d)), ...f.webhook_configs!.items().map((c) => readWebhook(c, d))] });
  }
  if (receivers.size === 0) receivers.set(DEFAULT_RECEIVER, defaultReceiver(d));
  if (top.route!.missing) {
    if (!receivers.has(DEFAULT_RECEIVER)) throw root.error('a route is required when receivers are defined (route: { receiver: <name> })');
  }
  const route = top.route!.missing ? defaultRouting(d).route : readRoute(top.route!, undefined, d, receivers, 0);
  const inhibitRules = top.builtin_inhibit_rules!.bool(true) ? [...builtinInhibitRules] : [];
  for (const ic of top.inhibit_rules!.items()) {
    const f = ic.fields(['source_matchers', 'target_matchers', 'source_match', 'target_match', 'equal']);
    const source = [...readMatchers(f.source_matchers!), ...Object.entries(f.source_match!.stringMap()).map(([name, value]) => ({ name, type: '=' as const, value }))];
    const target = [...readMatchers(f.target_matchers!), ...Object.entries(f.target_match!.stringMap()).map(([name, value]) => ({ name, type: '=' as const, value }))];
    if (source.length === 0 || target.length === 0) throw ic.error('an inhibit rule needs source_matchers and target_matchers');
    inhibitRules.push({ sourceMatchers: source, targetMatchers: target, equal: f.equal!.stringList() });
  }
  return { route, receivers, inhibitRules };
}

export function loadRoutingFile(file: string | undefined, d: RoutingDefaults): RoutingConfig {
  if (!file) return defaultRouting(d);
  return parseRouting(YamlCursor.load(file), d);
}
