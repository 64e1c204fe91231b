/** Minimal Engine API client over a unix socket (no dockerode: errors here must be plain and fast). */
import * as http from 'node:http';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/**
 * Sends one request to the Engine API. The body is parsed as JSON when it looks
 * like JSON, otherwise returned as a string. Rejects on transport errors or timeout.
 */
export function engineRequest<T = unknown>(
  socketPath: string,
  method: string,
  urlPath: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<ApiResponse<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parseBody(Buffer.concat(chunks).toString()) as T }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function parseBody(text: string): unknown {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      return text;
    }
  }
  return text;
}

/** True when the engine answers GET /_ping with 200 within `timeoutMs`. */
export async function ping(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  try {
    return (await engineRequest(socketPath, 'GET', '/_ping', undefined, timeoutMs)).status === 200;
  } catch {
    return false;
  }
}
