import type { WebhookAlert, WebhookPayload } from './payload.js';

/** Subject, text and HTML of an email notification, from the same v4 payload the webhooks get. */
export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function pairs(labels: Record<string, string>, skip: string[] = []): string {
  return Object.keys(labels).filter((k) => !skip.includes(k)).sort().map((k) => `${k}=${labels[k]}`).join(', ');
}

function alertText(a: WebhookAlert): string {
  const lines = [
    `[${a.status.toUpperCase()}] ${a.labels.alertname ?? ''} (${a.labels.severity ?? 'no severity'})`,
    a.annotations.summary ? `Summary: ${a.annotations.summary}` : '',
    a.annotations.description ? `Description: ${a.annotations.description}` : '',
    `Labels: ${pairs(a.labels, ['alertname', 'severity'])}`,
    `Started: ${a.startsAt}${a.status === 'resolved' ? `  Resolved: ${a.endsAt}` : ''}`,
    a.annotations.runbook ? `Runbook: ${a.annotations.runbook}` : '',
    `Fingerprint: ${a.fingerprint}`,
  ];
  return lines.filter(Boolean).join('\n');
}

export function renderEmail(p: WebhookPayload): RenderedEmail {
  const firing = p.alerts.filter((a) => a.status === 'firing');
  const resolved = p.alerts.filter((a) => a.status === 'resolved');
  const tag = p.status === 'firing' ? `FIRING:${firing.length}` : 'RESOLVED';
  const name = p.groupLabels.alertname ?? p.commonLabels.alertname ?? 'alerts';
  const rest = pairs(p.groupLabels, ['alertname']);
  const subject = `[${tag}] ${name}${rest ? ` (${rest})` : ''}${p.commonAnnotations.summary ? ` - ${p.commonAnnotations.summary}` : ''}`;
  const sections: string[] = [];
  if (firing.length) sections.push(`${firing.length} firing:\n\n${firing.map(alertText).join('\n\n')}`);
  if (resolved.length) sections.push(`${resolved.length} resolved:\n\n${resolved.map(alertText).join('\n\n')}`);
  const text = `${sections.join('\n\n')}\n\nGroup: ${p.groupKey}\nReceiver: ${p.receiver}${p.externalURL ? `\nAlert engine: ${p.externalURL}` : ''}\n`;
  const row = (a: WebhookAlert) => `<tr><td style="padding:8px;border-bottom:1px solid #ddd"><b style="color:${a.status === 'firing' ? '#b00020' : '#1b5e20'}">[${a.status.toUpperCase()}] ${escapeHtml(a.labels.alertname ?? '')}</b> <i>${escapeHtml(a.labels.severity ?? '')}</i><br>`
    + `${escapeHtml(a.annotations.summary ?? '')}<br>${escapeHtml(a.annotations.description ?? '')}<br>`
    + `<small>${escapeHtml(pairs(a.labels, ['alertname', 'severity']))}<br>started ${escapeHtml(a.startsAt)}${a.status === 'resolved' ? `, resolved ${escapeHtml(a.endsAt)}` : ''}</small>`
    + (a.annotations.runbook ? `<p style="background:#f5f5f5;padding:6px"><b>Runbook:</b> ${escapeHtml(a.annotations.runbook)}</p>` : '') + '</td></tr>';
  const html = `<!doctype html><html><body style="font-family:sans-serif"><h3>${escapeHtml(subject)}</h3><table style="border-collapse:collapse;width:100%">${p.alerts.map(row).join('')}</table>`
    + `<p><small>Group ${escapeHtml(p.groupKey)} · receiver ${escapeHtml(p.receiver)}</small></p></body></html>`;
  return { subject, text, html };
}
