// limits.connection_rate, message_rate and recipient_rate on a running gateway, driven by real SMTP clients from
// loopback addresses of their own: the client over a rate is told to come back later (421 at the greeting, 450 at
// MAIL and RCPT), the log says who and which limit, our own networks and trusted proxies pass, a client a proxy names
// is counted as itself, a reload applies new values, and a client that waits out the window is served again.
import assert from 'node:assert/strict';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { validateConfig } from '../../core/config/load.ts';

const from = (localAddress: string, port: number, tls = false) => SmtpDialog.connect(port, '127.0.0.1', { localAddress, tls });
const counter = (gw: TestGateway, name: string) => gw.gateway.runtime.metrics.counters.get(name) ?? 0;

describe('client rate limits', () => {
  describe('connection_rate', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway({
        config: {
          server: { greeting_delay: 0, tls_listen: ['127.0.0.1:0'] },
          relay: { networks: ['127.0.0.4/32'] },
          access: { allow_ips: ['127.0.0.5'] },
          limits: { connection_rate: 3 },
        },
      });
    });
    after(() => gw.stop());

    /** Connects from `ip` and reads the greeting; the dialog is left open unless refused. */
    async function greeting(ip: string): Promise<{ d: SmtpDialog; code: number; text: string }> {
      const d = await from(ip, gw.port);
      const r = await d.read();
      return { d, code: r.code, text: r.text };
    }

    it('refuses the connection over the rate with 421 4.7.0 at the greeting, closes it, logs and counts it', async () => {
      const refusedBefore = counter(gw, 'connections_refused');
      const served = [];
      for (let i = 0; i < 3; i++) served.push(await greeting('127.0.0.2'));
      // Each closed first: the rate counts connections opened, not connections open at once.
      for (const s of served) await s.d.quit();
      assert.deepEqual(served.map((s) => s.code), [220, 220, 220]);
      const over = await greeting('127.0.0.2');
      assert.equal(over.code, 421);
      assert.equal(over.text, '4.7.0 Connection rate limit exceeded for your address, try again later');
      await waitFor('the refused connection to close', () => over.d.closed || undefined);
      const line = gw.logs.find((l) => l.msg === 'client refused: connection rate limit' && l.client === '127.0.0.2');
      assert.ok(line, 'the refusal is logged with the client');
      assert.equal(line.limit, 'limits.connection_rate');
      assert.equal(line.max, 3);
      assert.ok(line.cid, 'under the session\'s cid');
      assert.equal(counter(gw, 'connections_refused'), refusedBefore + 1);
      const other = await greeting('127.0.0.3');
      assert.equal(other.code, 220, 'another client has its own count');
      await other.d.quit();
    });

    it('never limits relay.networks, access.allow_ips or a trusted proxy\'s own connections', async () => {
      for (const ip of ['127.0.0.4', '127.0.0.5', '127.0.0.1']) {
        for (let i = 0; i < 6; i++) {
          const g = await greeting(ip);
          await g.d.quit();
          assert.equal(g.code, 220, `connection ${i + 1} from ${ip}`);
        }
      }
    });

    it('counts a client a trusted proxy names with XCLIENT as that client, and refuses it there', async () => {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) {
        const d = await from('127.0.0.1', gw.port);
        codes.push((await d.hello({ xclient: { addr: '192.0.2.50' } })).code);
        await d.quit();
      }
      assert.deepEqual(codes, [250, 250, 250, 421]);
      const line = gw.logs.find((l) => l.msg === 'client refused: connection rate limit' && l.client === '192.0.2.50');
      assert.equal(line?.limit, 'limits.connection_rate');
      const own = await greeting('127.0.0.1');
      assert.equal(own.code, 220, 'the proxy itself is still served');
      await own.d.quit();
    });

    it('drops a client already over its rate on the implicit-TLS port before the handshake', async () => {
      for (let i = 0; i < 3; i++) await (await greeting('127.0.0.8')).d.quit();
      await assert.rejects(from('127.0.0.8', gw.gateway.port('smtps'), true));
      const line = gw.logs.find((l) => l.msg === 'client refused: connection rate limit' && l.client === '127.0.0.8');
      assert.equal(line?.before, 'TLS handshake');
      assert.equal(line?.listener, 'smtps');
    });

    it('applies a new limit from a reload to the next connection', async () => {
      assert.equal((await greeting('127.0.0.2')).code, 421, 'still refused before the reload');
      const running = gw.gateway.runtime.config;
      assert.equal(await gw.gateway.reload(await validateConfig({ ...running, limits: { ...running.limits, connection_rate: 100 } })), true);
      const after = await greeting('127.0.0.2');
      assert.equal(after.code, 220);
      await after.d.quit();
    });
  });

  describe('connection_rate behind a PROXY protocol proxy', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway({ config: { server: { greeting_delay: 0, proxy_protocol: true }, limits: { connection_rate: 2 } } });
    });
    after(() => gw.stop());

    it('counts each connection under the client its PROXY header names', async () => {
      const codes: number[] = [];
      for (const client of ['192.0.2.60', '192.0.2.60', '192.0.2.61', '192.0.2.60']) {
        const d = await from('127.0.0.1', gw.port);
        d.write(`PROXY TCP4 ${client} 127.0.0.1 40000 25\r\n`);
        codes.push((await d.read()).code);
        await d.quit();
      }
      assert.deepEqual(codes, [220, 220, 220, 421]);
      const line = gw.logs.find((l) => l.msg === 'client refused: connection rate limit');
      assert.equal(line?.client, '192.0.2.60');
    });
  });

  describe('message_rate and recipient_rate', () => {
    let gw: RelayingGateway;
    before(async () => {
      gw = await startRelayingGateway({
        config: { server: { greeting_delay: 0 }, relay: { networks: ['127.0.0.4/32'] }, limits: { message_rate: 2, recipient_rate: 3 } },
      });
    });
    after(() => gw.stop());

    async function session(ip: string): Promise<SmtpDialog> {
      const d = await from(ip, gw.port);
      assert.equal((await d.hello()).code, 250);
      return d;
    }

    it('refuses MAIL FROM over the client\'s message rate with 450 4.7.1, over all its connections', async () => {
      const before = counter(gw, 'senders_rate_limited');
      const d = await session('127.0.0.6');
      for (let i = 0; i < 2; i++) {
        assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
        assert.equal((await d.data(testMessage())).code, 250);
      }
      const third = await d.cmd('MAIL FROM:<a@client.example>');
      assert.equal(third.code, 450);
      assert.equal(third.text, '4.7.1 Message rate limit exceeded for your address, try again later');
      await d.quit();
      const again = await session('127.0.0.6');
      assert.equal((await again.cmd('MAIL FROM:<a@client.example>')).code, 450, 'a new connection does not start the count again');
      await again.quit();
      const line = gw.logs.find((l) => l.msg === 'sender refused' && l.client === '127.0.0.6');
      assert.equal(line?.limit, 'limits.message_rate');
      assert.equal(line?.from, 'a@client.example');
      assert.match(String(line?.reply), /^450 4\.7\.1 /);
      assert.equal(counter(gw, 'senders_rate_limited'), before + 2);
      await gw.sink.waitFor(2);
    });

    it('refuses RCPT TO over the client\'s recipient rate with 450 4.7.1, and relays the recipients it took', async () => {
      const before = counter(gw, 'recipients_refused');
      const d = await session('127.0.0.7');
      assert.equal((await d.cmd('MAIL FROM:<b@client.example>')).code, 250);
      const codes = [];
      for (const r of ['r1', 'r2', 'r3', 'r4']) codes.push((await d.cmd(`RCPT TO:<${r}@example.com>`)).code);
      assert.deepEqual(codes, [250, 250, 250, 450]);
      assert.equal((await d.data(testMessage({ subject: 'rcpt-rate' }))).code, 250);
      await d.quit();
      const line = gw.logs.find((l) => l.msg === 'recipient refused' && l.client === '127.0.0.7');
      assert.equal(line?.limit, 'limits.recipient_rate');
      assert.deepEqual(line?.to, ['r4@example.com']);
      assert.match(String(line?.reply), /^450 4\.7\.1 Recipient rate limit exceeded for your address/);
      assert.equal(counter(gw, 'recipients_refused'), before + 1);
      await gw.sink.waitForText('Subject: rcpt-rate');
      const relayed = gw.sink.messages.find((m) => m.raw.toString('latin1').includes('Subject: rcpt-rate'));
      assert.deepEqual(relayed?.rcptTo.sort(), ['r1@example.com', 'r2@example.com', 'r3@example.com']);
    });

    it('never limits relay.networks', async () => {
      const d = await session('127.0.0.4');
      for (let m = 0; m < 4; m++) {
        assert.equal((await d.cmd('MAIL FROM:<c@client.example>')).code, 250, `message ${m + 1}`);
        for (let r = 0; r < 4; r++) assert.equal((await d.cmd(`RCPT TO:<n${m}x${r}@example.com>`)).code, 250);
        assert.equal((await d.cmd('RSET')).code, 250);
      }
      await d.quit();
    });
  });

  describe('the window', () => {
    let gw: TestGateway;
    const WINDOW_MS = 1000;
    before(async () => {
      gw = await startGateway({ config: { server: { greeting_delay: 0 }, limits: { message_rate: 1, rate_window: `${WINDOW_MS}ms` } } });
    });
    after(() => gw.stop());

    it('serves a client again once it has kept below its rate for the window', async () => {
      const d = await from('127.0.0.9', gw.port);
      assert.equal((await d.hello()).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await d.cmd('RSET')).code, 250);
      // Two MAILs less than two windows apart are two within a window, whatever the buckets' edges.
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 450);
      const last = Date.now();
      // Both of the client's buckets are behind it two windows after its last attempt: nothing is left to count.
      await waitFor('two quiet windows', () => (Date.now() >= last + 2 * WINDOW_MS ? true : undefined));
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      await d.quit();
    });
  });
});
