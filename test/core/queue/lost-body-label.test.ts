// A next hop that hangs up after about 200 bytes of a 400 KB body: each deferral says the body was being sent (no
// duplicate risk), never "while sending end of data", which only a connection lost after the final dot went out may.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { sendMail, until } from './send.ts';

/** Answers the envelope, then reads `cutAfter` bytes of the body and drops the connection. */
async function startCuttingHop(cutAfter: number): Promise<{ port: number; cuts: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const hop = { port: 0, cuts: 0, close: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); } };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = '';
    let body = -1;
    socket.write('220 cutting.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      if (body >= 0) {
        body += chunk.length;
        if (body >= cutAfter) { hop.cuts++; socket.destroy(); }
        return;
      }
      pending += chunk.toString('latin1');
      for (let nl = pending.indexOf('\r\n'); nl >= 0 && body < 0; nl = pending.indexOf('\r\n')) {
        const verb = pending.slice(0, 4).toUpperCase();
        pending = pending.slice(nl + 2);
        if (verb === 'EHLO') socket.write('250-cutting.test\r\n250 8BITMIME\r\n');
        else if (verb === 'DATA') { socket.write('354 go ahead\r\n'); body = 0; }
        else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hop.port = (server.address() as net.AddressInfo).port;
  return hop;
}

describe('queue: a connection lost in the middle of a large body', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  let hop: Awaited<ReturnType<typeof startCuttingHop>> | undefined;
  afterEach(async () => {
    await gw?.stop(); gw = undefined;
    await hop?.close(); hop = undefined;
  });

  it('is logged as lost while sending the message body, at every attempt', async () => {
    hop = await startCuttingHop(200);
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${hop.port}`, queue: { retry_schedule: ['200ms'] } } });
    const line = 'y'.repeat(78) + '\r\n';
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'large', body: line.repeat(Math.ceil(400 * 1024 / line.length)) });
    assert.equal(sent.code, 250, sent.text);
    const logs = gw.logs;
    const deferred = () => logs.filter((l) => l.msg === 'deferred' && l.qid === sent.queueId);
    await until(() => deferred().length >= 3, 20_000, 'three deferred attempts');
    for (const l of deferred().slice(0, 3)) {
      assert.match(String(l.reply), /\(while sending the message body\)$/);
      assert.doesNotMatch(String(l.reply), /end of data/);
    }
    assert.ok(hop.cuts >= 3);
  });
});
