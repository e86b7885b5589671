// The `relay` of a delivery line is the next hop that took (or refused) the mail, as Postfix's relay=host[address]:port,
// not a summary of the config: with routes, each recipient's line names its route's host; a smarthost given by name
// names the address that answered. (MX delivery naming the MX host used: routes.test.ts.)
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRawSmarthost, type RawSmarthost } from '../queue/raw-smarthost.ts';
import { sendMail, until } from '../queue/send.ts';

describe('relay: the next hop named on delivery lines', function () {
  this.timeout(30_000);
  // Two next hops that name the copies they take (MAIN0001, ROUTE0001…), as a real MTA's `queued as` does.
  let main: RawSmarthost;
  let other: RawSmarthost;
  let gw: TestGateway | undefined;
  beforeEach(async () => {
    main = await startRawSmarthost();
    other = await startRawSmarthost();
    main.queuedAs = 'MAIN';
    other.queuedAs = 'ROUTE';
  });
  afterEach(async () => { await gw?.stop(); gw = undefined; await main.stop(); await other.stop(); });

  const start = async (config: Record<string, unknown>) => {
    gw = await startGateway({
      config: { domains: ['example.com', 'example.net'], queue: { retry_schedule: ['1h'] }, ...config },
    });
    return gw;
  };
  const lines = (g: TestGateway, qid: string, msg: string) => g.logs.filter((l) => l.qid === qid && l.msg === msg);
  const byRecipient = (ls: LogFields[]) => Object.fromEntries(ls.map((l) => [(l.to as string[]).join(','), [l.relay, l.reply]]));

  it('one message over the default smarthost and a route to a second host: each recipient\'s line names its host', async () => {
    const g = await start({ smarthost: `smtp://127.0.0.1:${main.port}`, routes: { 'example.net': `smtp://127.0.0.1:${other.port}` } });
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com', 'v@example.net'] });
    assert.equal(s.code, 250);
    await until(() => lines(g, s.queueId!, 'delivered').length === 2, 10_000, 'both delivered');
    assert.deepEqual(byRecipient(lines(g, s.queueId!, 'delivered')), {
      'u@example.com': [`127.0.0.1[127.0.0.1]:${main.port}`, '250 2.0.0 queued as MAIN0001'],
      'v@example.net': [`127.0.0.1[127.0.0.1]:${other.port}`, '250 2.0.0 queued as ROUTE0001'],
    });
    assert.ok(!g.logs.some((l) => l.component === 'delivery' && /route\(s\)/.test(String(l.relay))), 'no summary of the config in place of a host');
  });

  it('a route\'s host refusing one recipient for now: the deferred line names that host, the delivered line the other', async () => {
    const g = await start({ smarthost: `smtp://127.0.0.1:${main.port}`, routes: { 'example.net': `smtp://127.0.0.1:${other.port}` } });
    other.rcptReplies.set('v@example.net', '452 4.2.2 mailbox full');
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com', 'v@example.net'] });
    assert.equal(s.code, 250);
    await until(() => lines(g, s.queueId!, 'deferred').length === 1, 10_000, 'the deferral');
    assert.deepEqual(byRecipient(lines(g, s.queueId!, 'deferred')), { 'v@example.net': [`127.0.0.1[127.0.0.1]:${other.port}`, '452 4.2.2 mailbox full'] });
    assert.deepEqual(byRecipient(lines(g, s.queueId!, 'delivered')), { 'u@example.com': [`127.0.0.1[127.0.0.1]:${main.port}`, '250 2.0.0 queued as MAIN0001'] });
  });

  it('a smarthost given by name: the line names it with the address that answered', async () => {
    const g = await start({ smarthost: `smtp://localhost:${main.port}` });
    const s = await sendMail(g.port, { from: 'a@client.example', to: ['u@example.com'] });
    assert.equal(s.code, 250);
    await until(() => lines(g, s.queueId!, 'delivered').length === 1, 10_000, 'delivered');
    assert.equal(lines(g, s.queueId!, 'delivered')[0].relay, `localhost[127.0.0.1]:${main.port}`);
  });
});
