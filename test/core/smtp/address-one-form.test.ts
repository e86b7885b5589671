// One form for every envelope address: a domain beyond ASCII is taken in lower-case A-labels whatever the client
// wrote (U-labels under SMTPUTF8, decomposed letters, upper case, an ideographic full stop at the root), the local
// part as the client sent it. So the next hop, the log and the queue see one spelling, and a recipient named in two
// spellings is one recipient. Real gateway, a next hop on bare sockets that offers SMTPUTF8 and records the bytes.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { startRawSmarthost, type RawSmarthost, type RawTransaction } from '../queue/raw-smarthost.ts';

/** The raw hop reads lines as latin1: this gives back the UTF-8 the gateway wrote. */
const utf8 = (latin1: string) => Buffer.from(latin1, 'latin1').toString('utf8');

describe('envelope addresses in one form', function () {
  this.timeout(60_000);
  let hop: RawSmarthost;
  let gw: TestGateway;
  before(async () => {
    hop = await startRawSmarthost({ smtputf8: true });
    gw = await startGateway({ config: {
      domains: ['müller.example', 'example.com'],
      smarthost: { url: `smtp://127.0.0.1:${hop.port}`, starttls: 'off' },
    } });
  });
  after(async () => { await gw?.stop(); await hop?.stop(); });

  /** One message under SMTPUTF8; each RCPT's reply code, and the transaction the next hop got. */
  async function relay(from: string, to: string[]): Promise<{ codes: number[]; got: RawTransaction; qid: string }> {
    const before = hop.accepted().length;
    const d = await SmtpDialog.connect(gw.port);
    const codes: number[] = [];
    let qid = '';
    try {
      await d.hello();
      assert.equal((await d.cmd(`MAIL FROM:<${from}> SMTPUTF8`)).code, 250);
      for (const t of to) codes.push((await d.cmd(`RCPT TO:<${t}>`)).code);
      const dot = await d.data(testMessage({ from: 'ann@example.org', to: 'someone@example.com' }));
      assert.equal(dot.code, 250, dot.text);
      qid = /queued as (\S+)/.exec(dot.text)![1];
    } finally { await d.quit(); }
    const got = await waitFor('the message at the next hop', () => hop.accepted()[before]);
    return { codes, got, qid };
  }

  const summary = (qid: string) => waitFor(`the summary line of ${qid}`, () => gw.logs.find((l) => l.msg === 'message' && l.qid === qid));

  it('relays a Unicode domain under SMTPUTF8 in A-labels, the local part as sent, and logs it so', async () => {
    const { got, qid } = await relay('ann@bücher.example', ['jürgen@müller.example', 'anna@xn--mller-kva.example']);
    assert.match(utf8(got.mail), /^MAIL FROM:<ann@xn--bcher-kva\.example>/);
    assert.deepEqual(got.rcpts.map((r) => utf8(r.address)), ['jürgen@xn--mller-kva.example', 'anna@xn--mller-kva.example']);
    const line = await summary(qid);
    assert.equal(line.from, 'ann@xn--bcher-kva.example');
    assert.deepEqual(line.to, ['jürgen@xn--mller-kva.example', 'anna@xn--mller-kva.example']);
  });

  it('composes a decomposed domain (NFC) before it takes its A-labels; a decomposed local part stays as sent', async () => {
    const { got } = await relay('ann@example.org', ['anna@MU\u0308LLER.example', 'ju\u0308rgen@example.com']);
    assert.deepEqual(got.rcpts.map((r) => utf8(r.address)), ['anna@xn--mller-kva.example', 'ju\u0308rgen@example.com']);
  });

  it('keeps a recipient named in several spellings of its domain once, as first named', async () => {
    const spellings = ['anna@müller.example', 'anna@xn--mller-kva.example', 'anna@mu\u0308ller.example', 'ANNA@MÜLLER.EXAMPLE', 'anna@XN--MLLER-KVA.example'];
    const { codes, got, qid } = await relay('ann@example.org', spellings);
    assert.deepEqual(codes, spellings.map(() => 250));
    assert.deepEqual(got.rcpts.map((r) => utf8(r.address)), ['anna@xn--mller-kva.example']);
    assert.deepEqual((await summary(qid)).to, ['anna@xn--mller-kva.example']);
  });

  it('drops the root dot an ideographic full stop (U+3002) or a full-width one wrote, as it drops a `.`', async () => {
    const { got } = await relay('ann@example.org\uff0e', ['anna@müller.example\u3002', 'bob@example.com\u3002']);
    assert.match(utf8(got.mail), /^MAIL FROM:<ann@example\.org>/);
    assert.deepEqual(got.rcpts.map((r) => utf8(r.address)), ['anna@xn--mller-kva.example', 'bob@example.com']);
  });

  it('refuses a domain IDNA cannot map (a joiner out of its context) with 501, at MAIL and at RCPT', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      const mail = await d.cmd('MAIL FROM:<ann@a\u200d.example> SMTPUTF8');
      assert.equal(`${mail.code} ${mail.text}`, '501 5.1.7 Bad sender address syntax: its domain has no IDNA (A-label) form');
      assert.equal((await d.cmd('MAIL FROM:<ann@example.org> SMTPUTF8')).code, 250);
      const rcpt = await d.cmd('RCPT TO:<anna@m\u200dller.example>');
      assert.equal(`${rcpt.code} ${rcpt.text}`, '501 5.1.3 Bad recipient address syntax: its domain has no IDNA (A-label) form');
    } finally { await d.quit(); }
  });

  it('keeps the A-label form without SMTPUTF8 too, and an ASCII domain as sent but for its root dot', async () => {
    const before = hop.accepted().length;
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<ann@bücher.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<anna@müller.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<Bob@Example.COM>')).code, 250);
      assert.equal((await d.data(testMessage())).code, 250);
    } finally { await d.quit(); }
    const got = await waitFor('the message at the next hop', () => hop.accepted()[before]);
    assert.match(utf8(got.mail), /^MAIL FROM:<ann@xn--bcher-kva\.example>/);
    assert.deepEqual(got.rcpts.map((r) => utf8(r.address)), ['anna@xn--mller-kva.example', 'Bob@Example.COM']);
  });
});
