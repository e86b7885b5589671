// A false positive released from the quarantine reaches the mailbox with the Subject it had before the verdict's
// `scores.subject_tag` (as Proxmox Mail Gateway delivers the original): a mailbox rule that files [SPAM] subjects as
// junk must not put it back there. Driven through the real gateway: SMTP in, `moat queue release`, a recording smarthost.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import type { ReceivedMessage } from '../../helpers/smarthost.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { sendMail, until } from '../queue/send.ts';

/** The client's Subject field as it sends it: folded, with an encoded word, so "byte for byte" means something. */
const CLIENT_SUBJECT = 'win big\r\n =?UTF-8?B?w6l0w6k=?=';
const CLIENT_FIELD = `Subject: ${CLIENT_SUBJECT}\r\n`;

const headerOf = (m: ReceivedMessage) => { const raw = m.raw.toString('latin1'); return raw.slice(0, raw.indexOf('\r\n\r\n') + 2); };
const subjectsOf = (m: ReceivedMessage) => headerOf(m).match(/^Subject:/gim) ?? [];

describe('the Subject of a message released from the quarantine', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['corp.example'], scores: { add_header: 5, quarantine: 10, reject: 20, subject_tag: '[SPAM]' },
      plugins: [{ name: 'rules', rules: [
        { name: 'big', when: { subject: 'win big' }, actions: [{ score: 12 }] },
        { name: 'news', when: { subject: 'newsletter' }, actions: [{ score: 12 }, { tag_subject: '[LIST]' }] },
        { name: 'review', when: { subject: 'review me' }, actions: [{ quarantine: 'held for review' }] },
        { name: 'tag', when: { subject: 'tag me' }, actions: [{ score: 6 }] },
      ] }],
    } });
  });
  after(() => g.stop());
  beforeEach(() => { g.sink.messages.length = 0; });

  async function held(subject: string, to: string[]): Promise<string> {
    const sent = await sendMail(g.port, { from: 'shop@sender.example', to, subject });
    assert.equal(sent.code, 250, sent.text);
    assert.ok(await g.gateway.runtime.queue.load(sent.queueId!, 'quarantine'), 'quarantined');
    return sent.queueId!;
  }

  function assertReleasedAsReceived(m: ReceivedMessage): void {
    const header = headerOf(m);
    assert.ok(header.includes(CLIENT_FIELD), `${m.rcptTo}: the client's own Subject field, byte for byte:\n${header}`);
    assert.equal(subjectsOf(m).length, 1, 'one Subject');
    assert.doesNotMatch(header, /\[SPAM\]/);
    assert.match(header, /^X-Mailmoat-Spam: No\r$/m);
    assert.match(header, /^X-Mailmoat-Released: from quarantine by the administrator/m);
  }

  it('a whole release delivers the client\'s own Subject, not the tagged one', async () => {
    const id = await held(CLIENT_SUBJECT, ['ann@corp.example']);
    assert.equal((await moatQueue(g.dataDir, 'release', id)).code, 0);
    const [m] = await g.sink.waitFor(1);
    assertReleasedAsReceived(m);
  });

  it('a release for one recipient, then of the rest, delivers the client\'s own Subject each time', async () => {
    const id = await held(CLIENT_SUBJECT, ['ann@corp.example', 'bob@corp.example']);
    assert.equal((await moatQueue(g.dataDir, 'release', id, '--recipient', 'ann@corp.example')).code, 0);
    const [first] = await g.sink.waitFor(1);
    assert.deepEqual(first.rcptTo, ['ann@corp.example']);
    assertReleasedAsReceived(first);
    assert.equal((await moatQueue(g.dataDir, 'release', id)).code, 0);
    const second = (await g.sink.waitFor(2))[1];
    assert.deepEqual(second.rcptTo, ['bob@corp.example']);
    assertReleasedAsReceived(second);
  });

  it('a Subject a plugin put in place of the client\'s comes out as the plugin wrote it, without the verdict\'s tag', async () => {
    const id = await held('newsletter', ['ann@corp.example']);
    assert.equal((await moatQueue(g.dataDir, 'release', id, '--recipient', 'ann@corp.example')).code, 0);
    const [m] = await g.sink.waitFor(1);
    assert.match(headerOf(m), /^Subject: \[LIST\] newsletter\r$/m);
    assert.equal(subjectsOf(m).length, 1);
    assert.doesNotMatch(headerOf(m), /\[SPAM\]/);
  });

  it('an untagged quarantined message comes out unchanged, and spam delivered at once is still tagged', async () => {
    const id = await held('review me', ['ann@corp.example']);
    assert.equal((await moatQueue(g.dataDir, 'release', id)).code, 0);
    const [m] = await g.sink.waitFor(1);
    assert.match(headerOf(m), /^Subject: review me\r$/m);
    assert.equal(subjectsOf(m).length, 1);

    g.sink.messages.length = 0;
    assert.equal((await sendMail(g.port, { from: 'shop@sender.example', to: ['ann@corp.example'], subject: 'tag me' })).code, 250);
    const [tagged] = await g.sink.waitFor(1);
    assert.match(headerOf(tagged), /^Subject: \[SPAM\] tag me\r$/m);
    assert.equal(subjectsOf(tagged).length, 1);
  });
});

describe('a recipient released from the quarantine whose copy then failed', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['corp.example'], scores: { add_header: 5, quarantine: 10, reject: 20 },
      plugins: [{ name: 'rules', rules: [{ name: 'big', when: { subject: 'win big' }, actions: [{ score: 12 }] }] }],
    } });
  });
  after(() => g.stop());

  it('is listed and shown as released with its copy\'s id, never as delivered, and a whole release does not send it again', async () => {
    g.sink.rcptReplies.set('late@corp.example', 550);
    const sent = await sendMail(g.port, { from: 'shop@sender.example', to: ['ann@corp.example', 'late@corp.example'], subject: 'win big' });
    assert.equal(sent.code, 250, sent.text);
    const id = sent.queueId!;
    const copy = `${id}r1`;
    assert.equal((await moatQueue(g.dataDir, 'release', id, '--recipient', 'late@corp.example')).code, 0);
    // The copy bounces: dead-lettered, and the sender gets its notice.
    await until(async () => !!(await g.gateway.runtime.queue.load(copy, 'deadletter')), 15_000, 'the copy dead-lettered');
    const [dsn] = await g.sink.waitFor(1);
    assert.deepEqual([dsn.mailFrom, dsn.rcptTo], ['', ['shop@sender.example']]);

    const list = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine');
    assert.ok(list.stdout.includes(`late@corp.example (released, copy queued as ${copy})`), list.stdout);
    assert.doesNotMatch(list.stdout, /\(delivered\)/);
    const json = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine', '--json');
    const statuses = (json.json as Array<{ recipientStatus: Array<{ address: string; status: string; reply?: string }> }>)[0].recipientStatus;
    assert.deepEqual(statuses, [
      { address: 'ann@corp.example', status: 'pending' },
      { address: 'late@corp.example', status: 'released', reply: `copy queued as ${copy}` },
    ]);
    const show = await moatQueue(g.dataDir, 'show', id);
    assert.match(show.stdout, new RegExp(`^recipient: {2}<late@corp\\.example> released \\(copy queued as ${copy}\\)$`, 'm'));
    assert.doesNotMatch(show.stdout, /delivered/);

    assert.equal((await moatQueue(g.dataDir, 'release', id)).code, 0);
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === id), 15_000, 'the rest delivered');
    assert.deepEqual(g.logs.find((l) => l.msg === 'delivered' && l.qid === id)!.to, ['ann@corp.example']);
    assert.ok(!g.logs.some((l) => l.qid === id && /dead-letter/.test(String(l.msg))), 'late@ was not tried again, so nothing failed');
    assert.equal(await g.gateway.runtime.queue.load(id, 'deadletter'), undefined);
    assert.deepEqual(g.sink.messages.map((m) => m.rcptTo), [['shop@sender.example'], ['ann@corp.example']], 'no second notice');
  });
});
