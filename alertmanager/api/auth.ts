import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

/**
 * Bearer-token check for write endpoints. Without a configured token the write API is closed (403), so a
 * forgotten setting never leaves silences and alert injection open to anyone who reaches the port.
 */
export function requireToken(token: string | undefined): RequestHandler {
  const expected = token ? createHash('sha256').update(token).digest() : undefined;
  return (req, res, next) => {
    if (!expected) {
      res.status(403).json({ error: 'write API disabled: set alertmanager.api-token (SWARMWATCH_ALERTMANAGER_API_TOKEN or SWARMWATCH_ALERTMANAGER_API_TOKEN_FILE)' });
      return;
    }
    const m = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
    // Hashing first makes the comparison constant-time whatever the length of the presented token.
    if (!m || !timingSafeEqual(createHash('sha256').update(m[1]!.trim()).digest(), expected)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="swarmwatch"').json({ error: m ? 'invalid bearer token' : 'missing bearer token (Authorization: Bearer <token>)' });
      return;
    }
    next();
  };
}
