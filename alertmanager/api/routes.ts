import express, { type ErrorRequestHandler, type Request, type Router } from 'express';
import type { AlertEngine } from '../engine.js';
import { isResolved, type Alert } from '../model.js';
import { matchesAll, parseMatcher, toApiMatcher, type Matcher } from '../matchers.js';
import { silenceState, type Silence } from '../dispatch/silences.js';
import { requireToken } from './auth.js';
import { parsePostableAlerts, parsePostableSilence } from './validate.js';

export interface ApiOptions {
  token?: string;
  maxBodyBytes: number;
}

function apiSilence(s: Silence, now: number) {
  return { id: s.id, matchers: s.matchers.map(toApiMatcher), startsAt: s.startsAt, endsAt: s.endsAt, updatedAt: s.updatedAt, createdBy: s.createdBy, comment: s.comment, status: { state: silenceState(s, now) } };
}

/** `?filter=alertname="X"&filter=severity=~"crit.*"`, as amtool sends it. */
function filtersOf(req: Request): Matcher[] | string {
  const raw = req.query.filter;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)];
  const out: Matcher[] = [];
  for (const f of list) {
    const m = parseMatcher(f.replace(/^\{|\}$/g, ''));
    if (typeof m === 'string') return m;
    out.push(m);
  }
  return out;
}

/**
 * Alertmanager API v2 subset (alerts, alert groups, silences, receivers, status) plus what Alertmanager lacks:
 * notification history and acknowledgement. Reads are open; writes need the bearer token.
 */
export function alertApi(engine: AlertEngine, o: ApiOptions): Router {
  const r = express.Router();
  const auth = requireToken(o.token);
  const json = express.json({ limit: o.maxBodyBytes, strict: false, type: ['application/json', 'application/*+json'] });

  const gettable = (a: Alert, firing: Alert[]) => {
    const mute = engine.dispatcher.muteStatus(a, firing);
    const ack = engine.acks.isAcked(a) ? engine.acks.byFingerprint.get(a.fingerprint) : undefined;
    return {
      labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, endsAt: a.endsAt, updatedAt: a.updatedAt, generatorURL: a.generatorURL, fingerprint: a.fingerprint,
      receivers: engine.receiverNamesFor(a).map((name) => ({ name })),
      status: { state: mute.silencedBy.length || mute.inhibitedBy.length ? 'suppressed' : 'active', silencedBy: mute.silencedBy, inhibitedBy: mute.inhibitedBy },
      ...(ack ? { acknowledgement: ack } : {}),
    };
  };

  r.get('/api/v2/alerts', (req, res) => {
    const filters = filtersOf(req);
    if (typeof filters === 'string') { res.status(400).json({ error: `bad filter: ${filters}` }); return; }
    const firing = engine.store.firing();
    const want = (name: string) => req.query[name] === undefined || req.query[name] !== 'false';
    const out = firing.filter((a) => matchesAll(filters, a.labels)).map((a) => gettable(a, firing)).filter((g) =>
      (g.status.silencedBy.length ? want('silenced') : true) && (g.status.inhibitedBy.length ? want('inhibited') : true) && (g.status.state === 'active' ? want('active') : true));
    res.json(out);
  });

  r.post('/api/v2/alerts', auth, json, (req, res) => {
    const alerts = parsePostableAlerts(req.body);
    if (typeof alerts === 'string') {
      engine.metrics.received.inc({ outcome: 'invalid' });
      res.status(400).json({ error: alerts });
      return;
    }
    engine.postAlerts(alerts);
    engine.metrics.received.inc({ outcome: 'accepted' }, alerts.length);
    res.status(200).json({});
  });

  r.get('/api/v2/alerts/groups', (_req, res) => {
    const firing = engine.store.firing();
    res.json([...engine.dispatcher.groups.values()].map((g) => ({
      labels: g.labels, receiver: { name: g.route.receiver }, groupKey: g.key,
      alerts: [...g.alerts.values()].filter((a) => !isResolved(a)).map((a) => gettable(a, firing)),
    })));
  });

  r.post('/api/v2/alerts/:fingerprint/ack', auth, json, (req, res) => {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as { by?: unknown; comment?: unknown };
    const ack = engine.acknowledge(String(req.params.fingerprint), typeof body.by === 'string' ? body.by : 'api', typeof body.comment === 'string' ? body.comment : '');
    if (!ack) { res.status(404).json({ error: `no firing alert with fingerprint ${req.params.fingerprint}` }); return; }
    res.json(ack);
  });

  r.delete('/api/v2/alerts/:fingerprint/ack', auth, (req, res) => {
    if (!engine.unacknowledge(String(req.params.fingerprint))) { res.status(404).json({ error: 'no acknowledgement for this fingerprint' }); return; }
    res.json({});
  });

  r.get('/api/v2/silences', (req, res) => {
    const filters = filtersOf(req);
    if (typeof filters === 'string') { res.status(400).json({ error: `bad filter: ${filters}` }); return; }
    const now = Date.now();
    res.json(engine.silences.list().map((s) => apiSilence(s, now)));
  });

  r.post('/api/v2/silences', auth, json, (req, res) => {
    const s = parsePostableSilence(req.body);
    if (typeof s === 'string') { res.status(400).json({ error: s }); return; }
    if (s.id && !engine.silences.byId.has(s.id)) { res.status(404).json({ error: `silence ${s.id} not found` }); return; }
    res.json({ silenceID: engine.createSilence(s).id });
  });

  r.get('/api/v2/silence/:id', (req, res) => {
    const s = engine.silences.byId.get(String(req.params.id));
    if (!s) { res.status(404).json({ error: 'silence not found' }); return; }
    res.json(apiSilence(s, Date.now()));
  });

  r.delete('/api/v2/silence/:id', auth, (req, res) => {
    if (!engine.expireSilence(String(req.params.id))) { res.status(404).json({ error: 'silence not found' }); return; }
    res.json({});
  });

  r.get('/api/v2/receivers', (_req, res) => {
    res.json(engine.receiverNames().map((name) => ({ name })));
  });

  r.get('/api/v2/status', (_req, res) => {
    res.json({ cluster: { status: 'ready', name: engine.role(), peers: [] }, versionInfo: { version: 'swarmwatch' }, config: { original: '' }, uptime: engine.startedAt });
  });

  /** Delivery history, newest first: ?limit=100&receiver=ops&fingerprint=… */
  r.get('/api/v2/notifications', (req, res) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 10_000);
    const receiver = typeof req.query.receiver === 'string' ? req.query.receiver : undefined;
    const fp = typeof req.query.fingerprint === 'string' ? req.query.fingerprint : undefined;
    res.json(engine.history.list(limit, (h) => (!receiver || h.receiver === receiver) && (!fp || h.alerts.some((a) => a.fingerprint === fp))));
  });

  r.get('/-/ready', (_req, res) => {
    if (engine.ready) res.type('text/plain').send('OK\n');
    else res.status(503).type('text/plain').send('alert engine starting\n');
  });

  // Body parser failures (bad JSON, too large, wrong charset) answer 4xx with the reason instead of a stack.
  const onError: ErrorRequestHandler = (err: { status?: number; statusCode?: number; type?: string; message?: string }, _req, res, next) => {
    if (res.headersSent) { next(err); return; }
    const status = err.status ?? err.statusCode ?? 500;
    const reason = err.type === 'entity.too.large' ? `request body larger than ${o.maxBodyBytes} bytes`
      : err.type === 'entity.parse.failed' ? `request body is not valid JSON: ${err.message}`
      : status < 500 ? err.message ?? 'bad request' : 'internal error';
    res.status(status).json({ error: reason });
  };
  r.use(onError);
  return r;
}
