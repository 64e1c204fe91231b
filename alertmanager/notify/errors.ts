/** A failed delivery attempt: retryable ones go back to the outbox with backoff, the others are recorded as failed. */
export class DeliveryError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** A URL as it may appear in logs and history: no credentials, no query string (tokens often live there). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
