// A next hop restarting: its listener is gone (connects are refused) while our session with its old process is still
// open. That is no connection limit: the pool used to take the refused connect for one and came down to a single
// connection, which after the restart climbed back one a minute. Now the refused send fails as a refused connect does
// (the queue defers it) and the pool keeps its configured limit.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { SmtpPool } from '../../../core/relay/smtp-pool.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

describe('relay pool: a next hop restarting', function () {
  this.timeout(30_000);

  it('does not take connects refused during a restart for a connection limit', async () => {
    const sockets = new Set<net.Socket>();
    let inData = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => { release = r; });
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      let buf = '';
      let data = false;
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let eol = buf.indexOf('\r\n'); eol >= 0; eol = buf.indexOf('\r\n')) {
          const line = buf.slice(0, eol);
          buf = buf.slice(eol + 2);
          if (data) {
            if (line !== '.') continue;
            data = false;
            inData++;
            // The old process finishes its session only once the listener is gone and the refused connect is seen.
            void released.then(() => s.write('250 2.0.0 queued\r\n'));
            continue;
          }
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === 'EHLO') s.write('250-hop.test\r\n250 8BITMIME\r\n');
          else if (verb === 'DATA') { data = true; s.write('354 go ahead\r\n'); }
          else if (verb === 'QUIT') { s.end('221 2.0.0 bye\r\n'); }
          else s.write('250 ok\r\n');
        }
      });
      s.write('220 hop.test ESMTP\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const pool = new SmtpPool({ host: '127.0.0.1', port, secure: false, starttls: 'off', tlsVerify: false, heloName: 'gw.test' }, 4);
    const send = (n: number) => pool.with((c) => c.send('a@client.example', ['b@example.com'], Readable.from([Buffer.from(`Subject: ${n}\r\n\r\nhi\r\n`)]), 30));
    try {
      const first = send(1);
      await waitUntil('the first session to carry its message', () => inData === 1);
      // The restart: no new connection is taken, the open session goes on.
      await new Promise<void>((r) => { server.close(() => r()); if (!server.listening) r(); });
      await assert.rejects(send(2), /ECONNREFUSED/);
      release();
      assert.equal((await first).data?.code, 250);
      assert.equal(pool.limit, 4, 'the pool keeps its configured limit');
    } finally {
      release();
      await pool.close();
      for (const s of sockets) s.destroy();
    }
  });
});
