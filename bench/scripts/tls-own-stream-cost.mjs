// What writing TLS's encrypted bytes to the socket's descriptor ourselves would cost (the design that would end the
// TLS lane's false unclean-stop warnings; docs/log-shipper.md, "Announced"): 100k GELF-sized lines (530 bytes) in
// 16 KiB records, one record at a time as the shipper writes them, to a TLS receiver in another process. "native":
// Node's TLS over its TCP handle (what the shipper does); "own stream": TLS over a Duplex whose writes are
// writev(2) on the descriptor. Prints the sender's CPU ms per 100k lines, alternating rounds.
// Usage: node bench/scripts/tls-own-stream-cost.mjs [rounds, default 3]   (needs openssl for a throwaway cert)
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';

const rounds = Number(process.argv[2] ?? 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-tls-cost-'));
const [key, cert] = [path.join(dir, 'k.pem'), path.join(dir, 'c.pem')];
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
const receiverCode = `const tls=require('tls'),fs=require('fs');const s=tls.createServer({key:fs.readFileSync(${JSON.stringify(key)}),cert:fs.readFileSync(${JSON.stringify(cert)})},(c)=>{c.on('data',()=>{});c.on('error',()=>{});});s.listen(0,'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'));`;
const receiver = spawn(process.execPath, ['-e', receiverCode], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = Number(await new Promise((resolve) => receiver.stdout.once('data', (d) => resolve(String(d).trim()))));
const ca = fs.readFileSync(cert);

async function native() {
  const t = tls.connect({ port, host: '127.0.0.1', ca });
  await new Promise((resolve) => t.once('secureConnect', resolve));
  return t;
}

async function ownStream() {
  const raw = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => raw.once('connect', resolve));
  const fd = raw._handle.fd;
  const duplex = new Duplex({
    writev(chunks, cb) {
      let left = Buffer.concat(chunks.map((c) => c.chunk));
      const step = () => {
        while (left.length > 0) {
          let n = 0;
          try { n = fs.writevSync(fd, [left]); } catch (err) { if (err.code !== 'EAGAIN') { cb(err); return; } }
          if (n === 0) { setTimeout(step, 1); return; }
          left = left.subarray(n);
        }
        cb();
      };
      step();
    },
    read() {},
  });
  raw.on('data', (d) => duplex.push(d));
  raw.on('error', () => undefined);
  const t = tls.connect({ socket: duplex, ca, host: '127.0.0.1' });
  await new Promise((resolve) => t.once('secureConnect', resolve));
  return t;
}

const record = Buffer.alloc(16_000, 97);
const records = Math.ceil((100_000 * 530) / record.length);
for (let r = 0; r < rounds; r++) {
  for (const [name, connect] of [['native', native], ['own stream', ownStream]]) {
    const t = await connect();
    const c0 = process.cpuUsage();
    for (let i = 0; i < records; i++) await new Promise((resolve) => t.write(record, resolve));
    const c = process.cpuUsage(c0);
    console.log(`round ${r + 1} ${name.padEnd(10)} ${((c.user + c.system) / 1000).toFixed(0)} CPU ms per 100k lines`);
    t.on('error', () => undefined);
    t.destroy();
  }
}
receiver.kill();
fs.rmSync(dir, { recursive: true, force: true });
