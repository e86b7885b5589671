// Sends one query to one server: UDP first, TCP when the answer comes back truncated; a fresh socket per query.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { encodeQuery, decodeAnswer, type RecordType, type WireAnswer } from './wire.ts';
import type { ServerAddress } from './servers.ts';

export class AttemptTimeout extends Error {
  constructor() { super('timeout'); this.name = 'AttemptTimeout'; }
}

/** One attempt at one server; rejects with AttemptTimeout when no usable answer came within `timeout` ms. */
export async function queryServer(server: ServerAddress, name: string, type: RecordType, timeout: number): Promise<WireAnswer> {
  const deadline = Date.now() + timeout;
  let udp = await queryUdp(server, name, type, timeout, true);
  // RFC 6891 section 7: a server that does not understand EDNS answers FORMERR; ask it again without.
  if (udp.rcode === 'FORMERR') udp = await queryUdp(server, name, type, Math.max(1, deadline - Date.now()), false);
  if (!udp.truncated) return udp;
  return queryTcp(server, name, type, Math.max(1, deadline - Date.now()));
}

function queryUdp(server: ServerAddress, name: string, type: RecordType, timeout: number, edns: boolean): Promise<WireAnswer> {
  // A random id and a random source port per query make blind spoofing of answers hard.
  const id = randomInt(0, 65536);
  const sock = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
  return new Promise<WireAnswer>((resolve, reject) => {
    const done = (fn: () => void) => { clearTimeout(timer); sock.close(); fn(); };
    const timer = setTimeout(() => done(() => reject(new AttemptTimeout())), timeout);
    sock.on('error', (e) => done(() => reject(e)));
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port !== server.port || rinfo.address !== server.host) return;
      const a = decodeAnswer(msg, id, name, type);
      if (a) done(() => resolve(a));
    });
    sock.send(encodeQuery(id, name, type, edns), server.port, server.host, (err) => { if (err) done(() => reject(err)); });
  });
}

function queryTcp(server: ServerAddress, name: string, type: RecordType, timeout: number): Promise<WireAnswer> {
  const id = randomInt(0, 65536);
  return new Promise<WireAnswer>((resolve, reject) => {
    const sock = net.connect({ host: server.host, port: server.port });
    const done = (fn: () => void) => { clearTimeout(timer); sock.destroy(); fn(); };
    const timer = setTimeout(() => done(() => reject(new AttemptTimeout())), timeout);
    let buf = Buffer.alloc(0);
    sock.on('error', (e) => done(() => reject(e)));
    sock.on('connect', () => {
      const q = encodeQuery(id, name, type, false);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(q.length);
      sock.write(Buffer.concat([head, q]));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const a = decodeAnswer(buf.subarray(2, 2 + buf.readUInt16BE(0)), id, name, type);
      done(() => (a ? resolve(a) : reject(new Error('bad answer over TCP'))));
    });
    sock.on('close', () => done(() => reject(new Error('connection closed before the answer'))));
  });
}
