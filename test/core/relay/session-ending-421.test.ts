// A next hop that answers a command of the transaction with 421 (Postfix's per-recipient `421 4.3.2 … store
// offline`, or check_client_access 421 with smtpd_delay_reject) closes the connection after it. The recipients'
// reason is that 421, with the command it answered, as Postfix logs `said: 421 … (in reply to RCPT TO command)`:
// not the closed connection that follows it, and the destination is not taken for down, since its server answered.
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { sendMail } from '../queue/send.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const OFFLINE = '421 4.3.2 alice store offline (in reply to RCPT TO command)';

/** A real smtp-server next hop that answers RCPT TO:<alice@…> with 421, after which smtp-server closes the session. */
async function nextHop(): Promise<{ port: number; delivered: string[][]; stop(): Promise<void> }> {
  const delivered: string[][] = [];
  const server = new SMTPServer({
    name: 'backend.test', logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'],
    onRcptTo(addr, _s, cb) {
      if (!addr.address.startsWith('alice@')) { cb(); return; }
      cb(Object.assign(new Error('4.3.2 alice store offline'), { responseCode: 421 }));
    },
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => { delivered.push(session.envelope.rcptTo.map((r) => r.address)); cb(); });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, delivered, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('relay: a 421 to a command of the transaction is the recipients\' reason', function () {
  this.timeout(30_000);
  let hop: Awaited<ReturnType<typeof nextHop>>;
  let gw: TestGateway | undefined;

  beforeEach(async () => { hop = await nextHop(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await hop.stop(); });

  it('keeps the server\'s 421 for every recipient of the session, in the log and in moat queue list, and the destination up', async () => {
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${hop.port}`, queue: { retry_schedule: ['1h'], lifetime: '1h' } } });
    // bob comes after alice, and the session is over before his RCPT TO is answered: the 421 is his reason too.
    assert.equal((await sendMail(gw.port, { from: 'sender@client.example', to: ['alice@example.com', 'bob@example.com'] })).code, 250);
    const deferred = await waitFor('the deferred line', () => gw!.logs.find((l) => l.msg === 'deferred'));
    assert.equal(deferred.reply, OFFLINE);
    assert.deepEqual(deferred.to, ['alice@example.com', 'bob@example.com']);
    assert.equal(deferred.relay, `127.0.0.1[127.0.0.1]:${hop.port}`);
    assert.equal(deferred.tls, 'none');
    assert.ok(!gw.logs.some((l) => l.msg === 'destination unreachable: its other messages wait for this one to get through'), 'the destination is not held as down');
    assert.ok(!gw.logs.some((l) => String(l.reply ?? '').includes('closed')), 'no line gives the closed connection as the reason');
    assert.equal(hop.delivered.length, 0, 'nothing was delivered in the session the 421 ended');

    const list = await moatQueue(gw.dataDir, 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.includes(OFFLINE), list.stdout);
    assert.ok(!list.stdout.includes('closed'), list.stdout);
  });

  it('a later message to the same host, for recipients it takes, is delivered at once', async () => {
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${hop.port}`, queue: { retry_schedule: ['1h'], lifetime: '1h' } } });
    assert.equal((await sendMail(gw.port, { from: 'sender@client.example', to: ['alice@example.com'] })).code, 250);
    await waitFor('the deferred line', () => gw!.logs.find((l) => l.msg === 'deferred'));
    assert.equal((await sendMail(gw.port, { from: 'sender@client.example', to: ['carol@example.com'] })).code, 250);
    const delivered = await waitFor('carol delivered', () => gw!.logs.find((l) => l.msg === 'delivered'));
    assert.deepEqual(delivered.to, ['carol@example.com']);
    assert.deepEqual(hop.delivered, [['carol@example.com']]);
  });
});
