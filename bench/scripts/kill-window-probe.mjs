// Preloaded into a shipper (node --import) by kill-window.mjs. Times the window in which a kill -9 repeats lines:
// from the start of a socket write that put bytes in the kernel (SIGKILL acts when the syscall returns) to the end
// of the cursor journal write that commits them. Socket writes are fs.writeSync/writevSync without a position
// (transport/stream.ts sendToKernel), journal writes the ones with a position (cursor-store.ts append). Plain TCP
// only: TLS goes through Node's stream. Prints one line on SIGUSR2.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const writeSync = fs.writeSync;
const writevSync = fs.writevSync;
const t0 = process.hrtime.bigint();
let openSince = 0n;
let windowNs = 0n;
let windows = 0;
let socketWrites = 0;
let socketBytes = 0;
let socketNs = 0n;

function socketWrite(fn, args) {
  const start = process.hrtime.bigint();
  const n = fn.apply(fs, args);
  socketNs += process.hrtime.bigint() - start;
  if (n > 0) {
    if (openSince === 0n) openSince = start;
    socketWrites++;
    socketBytes += n;
  }
  return n;
}

function journalWrite(fn, args) {
  try {
    return fn.apply(fs, args);
  } finally {
    if (openSince !== 0n) {
      windowNs += process.hrtime.bigint() - openSince;
      openSince = 0n;
      windows++;
    }
  }
}

fs.writeSync = function (fd, buffer, ...rest) {
  if (fd > 2 && typeof buffer !== 'string' && rest.length <= 2) return socketWrite(writeSync, [fd, buffer, ...rest]);
  return writeSync.call(fs, fd, buffer, ...rest);
};
fs.writevSync = function (fd, buffers, position) {
  return position === undefined || position === null ? socketWrite(writevSync, [fd, buffers]) : journalWrite(writevSync, [fd, buffers, position]);
};
syncBuiltinESMExports();

process.on('SIGUSR2', () => {
  const wallNs = Number(process.hrtime.bigint() - t0);
  process.stderr.write(`KILL-WINDOW ${JSON.stringify({ wallS: wallNs / 1e9, socketWrites, socketBytes, socketMs: Number(socketNs) / 1e6, windows, windowMs: Number(windowNs) / 1e6, openPct: (100 * Number(windowNs)) / wallNs })}\n`);
});
