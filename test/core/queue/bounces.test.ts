// Failure and delay notices end to end: a gateway relaying to a recording smarthost that refuses some recipients.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost, type ReceivedMessage } from '../../helpers/smarthost.ts';
import { sendMail, sleep, until } from './send.ts';

const isDsn = (m: ReceivedMessage) => m.mailFrom === '' && /multipart\/report; report-type=delivery-status/.test(m.raw.toString());

describe('queue: delivery status notifications', function () {
  this.timeout(30_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;

  beforeEach(async () => { sink = await startSmarthost(); });
  afterEach(async () => { await gw?.stop(); gw = undefined; await sink.stop(); });

  const start = (extra: Record<string, unknown> = {}, queue: Record<string, unknown> = {}) => startGateway({
    config: { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['300ms'], lifetime: '1h', ...queue }, ...extra },
  }).then((g) => { gw = g; return g; });

  it('partial failure: only the recipients refused with 5xx are bounced, in an RFC 3464 report with the original headers', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    const g = await start();
    const sent = await sendMail(g.port, { from: 'alice@client.example', to: ['good1@example.com', 'bad@example.com', 'good2@example.com'], subject: 'quarterly numbers' });
    assert.equal(sent.code, 250);
    const msgs = await sink.waitFor(2);
    const original = msgs.find((m) => !isDsn(m))!;
    assert.deepEqual(original.rcptTo.sort(), ['good1@example.com', 'good2@example.com']);
    const dsn = msgs.find(isDsn)!;
    assert.ok(dsn, 'a DSN reached the smarthost');
    assert.deepEqual(dsn.rcptTo, ['alice@client.example']);
    const text = dsn.raw.toString();
    assert.match(text, /^To: <alice@client\.example>/m);
    assert.match(text, /^Auto-Submitted: auto-replied/m);
    assert.match(text, /Content-Type: message\/delivery-status/);
    assert.match(text, /^Final-Recipient: rfc822; bad@example\.com$/m);
    assert.match(text, /^Action: failed$/m);
    assert.match(text, /^Status: 5\.1\.1$/m);
    assert.match(text, /^Diagnostic-Code: smtp; 550 5\.1\.1 recipient refused/m);
    // The server that refused it (RFC 3464 §2.3.5), right before its words.
    assert.match(text, /^Remote-MTA: dns; 127\.0\.0\.1\r?\nDiagnostic-Code: /m);
    assert.doesNotMatch(text, /Final-Recipient: rfc822; good/);
    assert.match(text, /Content-Type: text\/rfc822-headers[\s\S]*^Subject: quarterly numbers$/m);
    assert.match(text, /^Reporting-MTA: dns; mx\.test\.example$/m);
    // The original is kept in dead-letter with the state of each recipient.
    await until(() => readdirSync(path.join(g.dataDir, 'deadletter')).some((f) => f.endsWith('.json')), 5000, 'dead-letter entry');
    await sleep(300);
    assert.equal(sink.messages.filter(isDsn).length, 1, 'exactly one DSN');
  });

  it('never bounces to the null sender, and never bounces a bounce', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    sink.rcptReplies.set('forged@client.example', 550);
    const g = await start();
    assert.equal((await sendMail(g.port, { from: '', to: ['bad@example.com'] })).code, 250);
    // This one bounces, and its DSN to forged@client.example is refused in turn: no notice about the notice.
    assert.equal((await sendMail(g.port, { from: 'forged@client.example', to: ['bad@example.com'] })).code, 250);
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter' && l.failed && String(l.failed).includes('forged@client.example')), 10_000, 'the DSN to fail');
    await sleep(500);
    assert.equal(sink.messages.length, 0);
    assert.equal(g.logs.filter((l) => l.msg === 'failure notice queued').length, 1);
  });

  it('a failure notice that fails in turn is dead-lettered and copy_to gets one copy of it, and nothing follows', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    sink.rcptReplies.set('forged@client.example', 550);
    const g = await start({}, { bounces: { copy_to: 'postmaster@admin.example' } });
    assert.equal((await sendMail(g.port, { from: 'forged@client.example', to: ['bad@example.com'] })).code, 250);
    const [first, second] = await sink.waitFor(2, 10_000);
    // The notice reached the admin's copy while the sender refused it; the second message is the admin's word of that.
    assert.deepEqual(first.rcptTo, ['postmaster@admin.example']);
    assert.ok(isDsn(second));
    assert.deepEqual(second.rcptTo, ['postmaster@admin.example']);
    const text = second.raw.toString();
    assert.match(text, /^To: <postmaster@admin\.example>$/m);
    assert.match(text, /^Subject: Postmaster copy: /m);
    assert.match(text, /^Final-Recipient: rfc822; forged@client\.example$/m);
    assert.match(text, /^Diagnostic-Code: smtp; 550 5\.1\.1 /m);
    await until(() => readdirSync(path.join(g.dataDir, 'deadletter')).filter((f) => f.endsWith('.json')).length === 2, 5000, 'original and notice dead-lettered');
    await sleep(800);
    assert.equal(sink.messages.length, 2, 'no notice about the admin\'s copy');
    assert.equal(g.logs.filter((l) => l.msg === 'undeliverable notice: copy queued for the admin').length, 1);
  });

  it('send: authenticated stops backscatter to unauthenticated senders; copy_to still gets every failure notice', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    const g = await start({}, { bounces: { send: 'authenticated', copy_to: 'postmaster@admin.example' } });
    assert.equal((await sendMail(g.port, { from: 'someone@client.example', to: ['bad@example.com'] })).code, 250);
    const [dsn] = await sink.waitFor(1);
    assert.ok(isDsn(dsn));
    assert.deepEqual(dsn.rcptTo, ['postmaster@admin.example']);
    await sleep(300);
    assert.equal(sink.messages.length, 1);
  });

  it('send: off sends no notice at all', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    const g = await start({}, { bounces: { send: 'off', copy_to: 'postmaster@admin.example' } });
    assert.equal((await sendMail(g.port, { from: 'someone@client.example', to: ['bad@example.com'] })).code, 250);
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter'), 5000, 'failure');
    await sleep(300);
    assert.equal(sink.messages.length, 0);
  });

  it('delay notices: once sends a single notice after delay_after; templates fill their tokens', async () => {
    sink.rcptReplies.set('slow@example.com', 451);
    const g = await start({}, {
      bounces: { delay_notices: 'once', delay_after: '500ms', delay: { subject: 'Still trying {recipients} ({queue_id})' } },
    });
    const sent = await sendMail(g.port, { from: 'bob@client.example', to: ['slow@example.com'] });
    assert.equal(sent.code, 250);
    const [dsn] = await sink.waitFor(1, 5000);
    const text = dsn.raw.toString();
    assert.match(text, new RegExp(`^Subject: Still trying slow@example\\.com \\(${sent.queueId}\\)$`, 'm'));
    assert.match(text, /^Action: delayed$/m);
    assert.match(text, /^Status: 4\.1\.1$/m);
    assert.match(text, /^Will-Retry-Until: /m);
    assert.match(text, /has not been delivered yet/);
    await until(() => g.logs.filter((l) => l.msg === 'deferred' && l.qid === sent.queueId).length >= 4, 5000, 'more retries');
    assert.equal(sink.messages.length, 1, 'once means once');
  });

  it('delay notices: every sends one per failed retry once the message is old enough', async () => {
    sink.rcptReplies.set('slow@example.com', 451);
    const g = await start({}, { bounces: { delay_notices: 'every', delay_after: '0s' } });
    const sent = await sendMail(g.port, { from: 'bob@client.example', to: ['slow@example.com'] });
    await sink.waitFor(3, 5000);
    const deferrals = g.logs.filter((l) => l.msg === 'deferred' && l.qid === sent.queueId).length;
    assert.ok(sink.messages.every(isDsn));
    assert.ok(Math.abs(sink.messages.length - deferrals) <= 1, `${sink.messages.length} notices for ${deferrals} deferrals`);
  });

  it('lifetime expiry bounces the recipients still pending with status 5.4.7', async () => {
    sink.rcptReplies.set('slow@example.com', 451);
    const g = await start({}, { lifetime: '700ms' });
    assert.equal((await sendMail(g.port, { from: 'carol@client.example', to: ['slow@example.com'] })).code, 250);
    const [dsn] = await sink.waitFor(1, 5000);
    assert.match(dsn.raw.toString(), /^Status: 5\.4\.7$/m);
    assert.match(dsn.raw.toString(), /^Diagnostic-Code: smtp; 451 4\.1\.1/m);
    void g;
  });
});
