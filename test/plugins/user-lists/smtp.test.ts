// The user-lists plugin in a real gateway on the embedded store, relaying to a recording smarthost: blocks at RCPT
// and at DATA, allows as a finding the verdict weighs, and who is never judged by the lists.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { openStore } from '../../../core/store/index.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { messageLine, seed, send, sleep, symbols } from './session.ts';

const EMBEDDED = { backend: 'embedded' as const, redis: { url: '', prefix: '' }, purge_interval: 0 };

describe('user-lists in a gateway (embedded store)', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  let store: StateStore;

  before(async () => {
    gw = await startRelayingGateway({
      config: {
        relay: { networks: ['192.0.2.0/24'] },
        plugins: [
          { name: 'user-lists', allow_needs_auth: false },
          // A stand-in for spam evidence and for a rule's forced action, which an allow must never override.
          { name: 'rules', rules: [
            { name: 'spammy', when: { subject: { contains: 'SPAMMY' } }, actions: [{ score: 16 }] },
            { name: 'hold', when: { subject: { contains: 'HOLD' } }, actions: ['quarantine'] },
          ] },
        ],
      },
    });
    // A second connection to the gateway's own SQLite file, as `moat lists` and the quarantine pages open it.
    store = await openStore(EMBEDDED, gw.dataDir);
    await seed(store, 'block', 'bob@example.com', '@spam.test', '@shop.test', 'mallory@evil.test');
    await seed(store, 'allow', 'bob@example.com', 'boss@shop.test', '@friends.test');
    await seed(store, 'allow', 'carol@example.com', '@friends.test');
    await seed(store, 'block', 'dave@example.com', 'mallory@evil.test');
  });
  after(async () => { await store?.close(); await gw?.stop(); });

  const relayedTo = async (marker: string) => {
    await gw.sink.waitForText(marker);
    return gw.sink.messages.find((m) => m.raw.toString('latin1').includes(marker))!.rcptTo;
  };

  it('refuses at RCPT only the recipient whose block list holds the envelope sender, with 550 5.7.1', async () => {
    const r = await send(gw.port, { ip: '203.0.113.10', from: 'Promo@Spam.test', to: ['bob@example.com', 'carol@example.com'] });
    assert.equal(r.rcpts[0].code, 550);
    assert.match(r.rcpts[0].text, /^5\.7\.1 /);
    assert.equal(r.rcpts[1].code, 250);
    assert.equal(r.data?.code, 250, r.data?.text);
    assert.deepEqual(await relayedTo(r.marker), ['carol@example.com']);
    const line = gw.logs.find((l) => String(l.msg).startsWith('sender on the recipient\'s block list') && String(l.to) === 'bob@example.com');
    assert.equal(line?.list, 'block');
    assert.equal(line?.entry, '@spam.test', 'the log names the entry that matched');
    // The envelope's names as on every line: `from` the sender, `to` a list of recipients.
    assert.deepEqual([line?.from, line?.to, 'sender' in line!, 'rcpt' in line!], ['Promo@Spam.test', ['bob@example.com'], false, false]);
  });

  it('a tagged recipient uses the lists of its untagged address', async () => {
    const r = await send(gw.port, { ip: '203.0.113.11', from: 'promo@spam.test', to: ['Bob+News@example.com'] });
    assert.equal(r.rcpts[0].code, 550);
  });

  it('an allow entry for the same address is the exception to a wider block', async () => {
    const r = await send(gw.port, { ip: '203.0.113.12', from: 'boss@shop.test', to: ['bob@example.com'] });
    assert.equal(r.rcpts[0].code, 250);
    assert.equal(r.data?.code, 250);
    const other = await send(gw.port, { ip: '203.0.113.12', from: 'sales@shop.test', to: ['bob@example.com'] });
    assert.equal(other.rcpts[0].code, 550);
  });

  it('the null sender matches no list, and trusted clients are not judged by them', async () => {
    const bounce = await send(gw.port, { ip: '203.0.113.13', from: '', to: ['bob@example.com'], author: 'mailer-daemon@mx.other.test' });
    assert.equal(bounce.rcpts[0].code, 250);
    assert.equal(bounce.data?.code, 250);
    const trusted = await send(gw.port, { ip: '192.0.2.25', from: 'promo@spam.test', to: ['bob@example.com'] });
    assert.equal(trusted.rcpts[0].code, 250, 'relay.networks');
    assert.equal(trusted.data?.code, 250);
    assert.ok(!symbols(messageLine(gw.logs, trusted.data)).some((s) => s.startsWith('USER_')));
  });

  it('at DATA drops the recipient whose block list holds the From address, and delivers to the others', async () => {
    const r = await send(gw.port, { ip: '203.0.113.14', from: 'bounces@lists.test', author: 'Mallory <mallory@evil.test>', to: ['bob@example.com', 'carol@example.com'] });
    assert.deepEqual(r.rcpts.map((x) => x.code), [250, 250]);
    assert.equal(r.data?.code, 250, r.data?.text);
    assert.deepEqual(await relayedTo(r.marker), ['carol@example.com']);
    const line = messageLine(gw.logs, r.data);
    assert.deepEqual(line?.discarded, ['bob@example.com']);
    // Carol's copy says nothing of Bob's block list.
    const copy = gw.sink.messages.find((m) => m.raw.toString('latin1').includes(r.marker))!.raw.toString('latin1');
    assert.doesNotMatch(copy, /USER_/);
    assert.ok(gw.logs.some((l) => l.msg === 'recipient discarded' && String(l.to) === 'bob@example.com' && l.plugin === 'user-lists'));
    const why = gw.logs.find((l) => String(l.msg).startsWith('sender or author on the recipient\'s block list') && String(l.to) === 'bob@example.com');
    assert.deepEqual([why?.entry, why?.matched, why?.via], ['mallory@evil.test', 'mallory@evil.test', 'from']);
  });

  it('refuses the message with 550 5.7.1 when every recipient blocks the From address', async () => {
    const before = gw.sink.messages.length;
    const r = await send(gw.port, { ip: '203.0.113.15', from: 'bounces@lists.test', author: 'mallory@evil.test', to: ['bob@example.com', 'dave@example.com'] });
    assert.deepEqual(r.rcpts.map((x) => x.code), [250, 250]);
    assert.equal(r.data?.code, 550);
    assert.match(r.data!.text, /^5\.7\.1 /);
    await sleep(300);
    assert.equal(gw.sink.messages.length, before, 'nothing relayed');
  });

  it('records USER_ALLOWLIST when every recipient allows the sender, so spam evidence below 20 points is accepted', async () => {
    const r = await send(gw.port, { ip: '203.0.113.16', from: 'ann@friends.test', to: ['bob@example.com', 'carol@example.com'], raw: undefined });
    assert.equal(r.data?.code, 250);
    assert.ok(symbols(messageLine(gw.logs, r.data)).includes('USER_ALLOWLIST(-20)'));

    const spammy = await send(gw.port, { ip: '203.0.113.16', from: 'ann@friends.test', to: ['bob@example.com'], raw: messageWith('SPAMMY', 'ann@friends.test') });
    assert.equal(spammy.data?.code, 250, 'score 16 - 20 is below every threshold');
    const relayed = await gw.sink.waitForText('SPAMMY');
    assert.match(relayed, /^X-Mailmoat-Verdict: accept; score=-4;.*USER_ALLOWLIST\(-20\)/m);
  });

  it('records no allow finding when only some recipients allow the sender', async () => {
    const r = await send(gw.port, { ip: '203.0.113.17', from: 'ann@friends.test', to: ['bob@example.com', 'dave@example.com'] });
    assert.equal(r.data?.code, 250);
    assert.ok(!symbols(messageLine(gw.logs, r.data)).some((s) => s.startsWith('USER_ALLOWLIST')));
  });

  it('an allow does not undo a rule\'s forced quarantine', async () => {
    const r = await send(gw.port, { ip: '203.0.113.18', from: 'ann@friends.test', to: ['carol@example.com'], raw: messageWith('HOLD', 'ann@friends.test') });
    assert.equal(r.data?.code, 250);
    const line = messageLine(gw.logs, r.data);
    assert.equal(line?.verdict, 'quarantine');
    assert.ok(symbols(line).includes('USER_ALLOWLIST(-20)'));
  });

  it('reads a list change at the next message, with no reload', async () => {
    const to = ['erin@example.com'];
    assert.equal((await send(gw.port, { ip: '203.0.113.19', from: 'x@late.test', to })).rcpts[0].code, 250);
    await seed(store, 'block', 'erin@example.com', '@late.test');
    assert.equal((await send(gw.port, { ip: '203.0.113.19', from: 'x@late.test', to })).rcpts[0].code, 550);
  });

  function messageWith(subject: string, from: string): string {
    return `From: ${from}\r\nTo: bob@example.com\r\nSubject: ${subject} ${Date.now()}\r\nMessage-ID: <${Math.random()}@friends.test>\r\n\r\nHello.\r\n`;
  }
});

