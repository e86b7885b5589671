// The gateway as a domain's backup MX (MX 10 another host, MX 20 us, routed `via: mx`): while the primary is down the
// mail waits for it, as Postfix's best_mx keeps it, instead of reaching the gateway itself and bouncing as a loop.
// Only when the gateway is the best MX host is `via: mx` a loop (554 5.4.6). Real parts: MX records from a loopback
// DNS server, the gateway's own listener, a primary on an address where nothing listens, a server that greets with
// the gateway's hostname.
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendMail } from '../queue/send.ts';

const HOSTNAME = 'gw.self.test';

describe('relay: the gateway among a domain\'s MX hosts', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let gw: TestGateway;
  let port: number;
  let impostor: SMTPServer;
  let impostorMails = 0;

  before(async () => {
    port = await freePort();
    // Nothing listens on 127.0.0.2:port: the primary is down. 127.0.0.1:port is the gateway's own listener.
    dns = await startDnsServer({
      zones: {
        'self.test': { gw: { A: ['127.0.0.3'] } },
        'addr.test': { '@': { MX: ['10 primary.addr.test', '20 backup.addr.test'] }, primary: { A: ['127.0.0.2'] }, backup: { A: ['127.0.0.1'] } },
        'name.test': { '@': { MX: ['10 primary.name.test', `20 ${HOSTNAME}`] }, primary: { A: ['127.0.0.2'] } },
        'greet.test': { '@': { MX: ['10 primary.greet.test', '20 other.greet.test'] }, primary: { A: ['127.0.0.2'] }, other: { A: ['127.0.0.4'] } },
        'only.test': { '@': { MX: ['10 backup.addr.test'] } },
        'nobetter.test': { '@': { MX: ['10 gone.nobetter.test', '20 backup.addr.test'] } },
      },
    });
    // Not at an address of ours, but greeting with our hostname: a host that is the gateway by a name DNS alone knows.
    impostor = new SMTPServer({
      name: HOSTNAME, logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'],
      onMailFrom(_a, _s, cb) { impostorMails++; cb(); },
      onData(stream, _s, cb) { stream.resume(); stream.on('end', () => cb()); },
    });
    impostor.on('error', () => undefined);
    await new Promise<void>((r) => impostor.listen(port, '127.0.0.4', () => r()));
    const domains = ['addr.test', 'name.test', 'greet.test', 'only.test', 'nobetter.test'];
    gw = await startGateway({
      config: {
        server: { hostname: HOSTNAME, listen: [`127.0.0.1:${port}`] },
        domains: ['example.com', ...domains],
        dns: { servers: [dns.address], timeout: '1s' },
        queue: { retry_schedule: ['1h'] },
        routes: Object.fromEntries(domains.map((d) => [d, { via: 'mx', port, starttls: 'off' }])),
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await new Promise<void>((r) => impostor.close(() => r()));
    await dns.stop();
  });

  /** The one line a message's recipient ended its first attempt with: deferred or bounced. */
  const outcome = async (to: string) => {
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: [to] });
    assert.equal(sent.code, 250);
    return waitFor(`${to} deferred or bounced`, () => gw.logs.find((l) => l.qid === sent.queueId && (l.msg === 'deferred' || l.msg === 'bounced')));
  };
  const loopErrors = () => gw.logs.filter((l) => l.level === 'error' && String(l.msg).startsWith('mail loop:'));
  const received = () => gw.logs.filter((l) => l.msg === 'message').length;

  it('defers while the primary is down when the backup MX is one of our addresses, and never sends to itself', async () => {
    const before = received();
    const line = await outcome('u@addr.test');
    assert.equal(line.msg, 'deferred', JSON.stringify(line));
    assert.match(String(line.reply), /^primary\.addr\.test\[127\.0\.0\.2\]: cannot connect to 127\.0\.0\.2:\d+/);
    assert.equal(received(), before + 1, 'the gateway did not receive its own message back');
    assert.deepEqual(loopErrors(), []);
  });

  it('defers when the backup MX host is named as the gateway names itself', async () => {
    const line = await outcome('u@name.test');
    assert.equal(line.msg, 'deferred', JSON.stringify(line));
    assert.match(String(line.reply), /^primary\.name\.test\[127\.0\.0\.2\]: cannot connect/);
  });

  it('defers, not bounces, when only the backup MX host\'s greeting shows it is us', async () => {
    const line = await outcome('u@greet.test');
    assert.equal(line.msg, 'deferred', JSON.stringify(line));
    // The primary's failure is the reason: the mail waits for it.
    assert.match(String(line.reply), /^primary\.greet\.test\[127\.0\.0\.2\]: cannot connect/);
    assert.equal(impostorMails, 0, 'nothing was sent to the host that greeted as us');
    assert.match(String(loopErrors().at(-1)?.msg), /greeted us with our own hostname gw\.self\.test$/);
  });

  it('bounces with 5.4.6 when the gateway is the best MX host', async () => {
    const line = await outcome('u@only.test');
    assert.equal(line.msg, 'bounced', JSON.stringify(line));
    assert.equal(line.reply, '554 5.4.6 mail for only.test loops back to myself');
    assert.equal(loopErrors().at(-1)?.msg, 'mail loop: backup.addr.test, the best MX host of only.test, is this gateway');
  });

  it('defers with 4.4.4 when the MX hosts better than ours have no address', async () => {
    const line = await outcome('u@nobetter.test');
    assert.equal(line.msg, 'deferred', JSON.stringify(line));
    assert.match(String(line.reply), /^451 4\.4\.4 unable to find primary relay for nobetter\.test/);
  });
});
