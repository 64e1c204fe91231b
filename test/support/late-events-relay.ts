import * as net from 'node:net';

/**
 * A unix-socket relay in front of a real engine that passes every request and answer through unchanged, except that
 * the answer to an events request (`GET …/events`) reaches the client `delayMs` late, chunk by chunk in order: the
 * engine of a node busy starting a burst of containers, whose events come seconds late (the state model's inspects
 * are answered late the same way). Everything the client gets is what the engine sent.
 *
 * `hold()` stops the events answers at the relay until `release()` (then they go on, in order, `delayMs` late): a test
 * whose premise is "the job ran and was removed before the shipper heard of it" then holds on a loaded machine too,
 * where a job can outlast any fixed delay.
 */
export async function startLateEventsRelay(engineSocket: string, listenPath: string, delayMs: number): Promise<{ dockerHost: string; hold(): void; release(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let gate: Promise<void> = Promise.resolve();
  let open: (() => void) | undefined;
  const server = net.createServer((client) => {
    const engine = net.connect(engineSocket);
    sockets.add(client).add(engine);
    let late: boolean | undefined;
    client.on('data', (chunk: Buffer) => {
      // The first bytes of a connection hold the request line; the shared Docker client opens one connection per stream.
      late ??= /^GET [^ ]*\/events[ ?]/.test(chunk.toString('latin1', 0, 200));
      engine.write(chunk);
    });
    engine.on('data', (chunk: Buffer) => {
      if (late) void gate.then(() => setTimeout(() => { if (!client.destroyed) client.write(chunk); }, delayMs));
      else client.write(chunk);
    });
    const end = () => { client.destroy(); engine.destroy(); sockets.delete(client); sockets.delete(engine); };
    client.on('close', end).on('error', end);
    engine.on('close', () => setTimeout(end, late ? delayMs : 0)).on('error', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listenPath, resolve));
  return {
    dockerHost: `unix://${listenPath}`,
    hold: () => { if (!open) gate = new Promise<void>((resolve) => { open = resolve; }); },
    release: () => { open?.(); open = undefined; },
    close: () => new Promise<void>((resolve) => { open?.(); for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
