// A client that hangs up in the middle of a POST body, or sends it too slowly, is the client's doing: the listener logs
// it as a request (info, with 408 when it timed out and could still be told so), never as an error of ours, over HTTP
// and over HTTPS alike.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startHttpListener, type HttpListener } from '../../../core/http/server.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { loadTls } from '../../../core/smtp/tls.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const TIMEOUT_MS = 800;
const PARTIAL_POST = 'POST /quarantine/release HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nt=abc';

type Connect = (port: number) => net.Socket;
const plain: Connect = (port) => net.connect({ port, host: '127.0.0.1' });
const secure = (ca: Buffer): Connect => (port) => tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca });

/** Sends `data` once connected; resolves with what came back when the server closed the connection. */
function sendAndWait(connect: Connect, port: number, data: string): { socket: net.Socket; closed: Promise<string> } {
  const socket = connect(port);
  const closed = new Promise<string>((resolve) => {
    let reply = '';
    socket.on('data', (d) => { reply += d.toString('latin1'); });
    socket.on('error', () => { /* a reset is one way the server may close it */ });
    socket.on('close', () => resolve(reply));
  });
  socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => socket.write(data));
  return { socket, closed };
}

describe('HTTP listener: a request body that never arrives whole', function () {
  this.timeout(30_000);
  const logs: LogFields[] = [];
  const servers: HttpListener[] = [];
  let dir: string;
  let ca: Buffer;
  const ran: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'moat-http-abort-'));
    const material = loadTls({ dataDir: dir, hostname: 'localhost' });
    ca = material.cert;
    const log = new JsonLogger({ level: 'debug', format: 'json', sink: { write() {} }, listeners: [(r) => { logs.push(r); }] });
    const routes = [{ method: 'POST' as const, path: '/quarantine/release', public: true, handle: async () => { ran.push('release'); return { status: 200, body: 'ok' }; } }];
    for (const t of [undefined, { key: material.key, cert: material.cert }]) {
      servers.push(await startHttpListener({ listen: ['127.0.0.1:0'], tls: t, allowed: () => true, log, requestTimeoutMs: TIMEOUT_MS, routes }));
    }
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['http', 'https'] as const) {
    const connect = () => (kind === 'http' ? plain : secure(ca));
    const port = () => servers[kind === 'http' ? 0 : 1].addresses[0].port;

    it(`${kind}: a client that hangs up mid-body is logged at info as gone, not as an error`, async () => {
      const from = logs.length;
      const { socket, closed } = sendAndWait(connect(), port(), PARTIAL_POST);
      await new Promise((r) => setTimeout(r, 150));
      socket.end();
      await closed;
      const line = await waitFor('the access line', () => logs.slice(from).find((l) => l.msg === 'http request not received whole'), 5000);
      assert.deepEqual([line.level, line.method, line.path, line.client, line.reason, line.status], ['info', 'POST', '/quarantine/release', '127.0.0.1', 'client went away', undefined]);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(logs.slice(from).filter((l) => l.level === 'error' || l.level === 'warn'), [], 'nothing at error or warn level');
      assert.ok(logs.slice(from).every((l) => !JSON.stringify(l).includes('abc')), 'nothing of the body logged');
    });

    it(`${kind}: a body cut off by the request timeout is answered 408 and logged at info with it`, async () => {
      const from = logs.length;
      const started = Date.now();
      const reply = await sendAndWait(connect(), port(), PARTIAL_POST).closed;
      assert.match(reply, /^HTTP\/1\.1 408 /, 'the client is told why');
      assert.ok(Date.now() - started < TIMEOUT_MS * 3, 'within the request timeout and one check of it');
      const line = await waitFor('the access line', () => logs.slice(from).find((l) => l.msg === 'http request not received whole'), 5000);
      assert.deepEqual([line.level, line.status, line.reason], ['info', 408, 'request timed out']);
      assert.deepEqual(logs.slice(from).filter((l) => l.level === 'error' || l.level === 'warn'), [], 'nothing at error or warn level');
    });
  }

  it('never ran the route for a body it did not get, and still serves whole requests', async () => {
    assert.deepEqual(ran, []);
    const reply = await sendAndWait(plain, servers[0].addresses[0].port, 'POST /quarantine/release HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nt=abc').closed;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.deepEqual(ran, ['release']);
  });
});
