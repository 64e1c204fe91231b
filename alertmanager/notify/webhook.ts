import { createHmac } from 'node:crypto';
import type { WebhookTarget } from '../config/routing.js';
import { DeliveryError, safeUrl } from './errors.js';
import type { WebhookPayload } from './payload.js';

export const SIGNATURE_HEADER = 'X-Swarmwatch-Signature';
export const NOTIFICATION_ID_HEADER = 'X-Swarmwatch-Notification-Id';

/** `sha256=<hex HMAC-SHA256 of the exact body>`, the convention GitHub and others use. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs the Alertmanager v4 JSON payload. Like Alertmanager's Retrier: 2xx is success, 5xx (plus 408 and 429)
 * and transport errors or timeouts are retried, any other status is a permanent failure.
 */
export async function sendWebhook(t: WebhookTarget, payload: WebhookPayload, notificationId: string): Promise<void> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    ...t.headers,
    'Content-Type': 'application/json',
    'User-Agent': 'swarmwatch-alertmanager',
    [NOTIFICATION_ID_HEADER]: notificationId,
  };
  if (t.hmacSecret) headers[SIGNATURE_HEADER] = signatureOf(t.hmacSecret, body);
  let res: Response;
  try {
    res = await fetch(t.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(t.timeoutMs), redirect: 'manual' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${t.timeoutMs} ms` : e.cause?.code ?? e.cause?.message ?? e.message;
    throw new DeliveryError(`webhook ${safeUrl(t.url)}: ${why}`, true);
  }
  // Drain the body so the connection is released; its content is not logged (it may echo secrets).
  await res.arrayBuffer().catch(() => undefined);
  if (res.status >= 200 && res.status < 300) return;
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  throw new DeliveryError(`webhook ${safeUrl(t.url)}: HTTP ${res.status}`, retryable);
}
