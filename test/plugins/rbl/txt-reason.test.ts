// `{txt}` in an rbl refusal text: the list's TXT record (Postfix's $rbl_reason), asked with the A record only when
// the text uses it, cleaned for the reply line, and never a reason to change the answer when it is missing or fails.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { replyTxt, TXT_MAX } from '../../../plugins/rbl/txt.ts';

const LONG_DIRTY = 'Listed\r\nX-Evil: 1\tcaf\u00e9 ' + 'x'.repeat(300);

describe('plugins/rbl: the TXT record in the refusal text ({txt})', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let gw: TestGateway;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        'bl.test': {
          '1.216.184.93': { A: '127.0.0.2', TXT: 'https://bl.test/query/93.184.216.1' },
          '2.216.184.93': { A: '127.0.0.2' },
          '3.216.184.93': { A: '127.0.0.2', TXT: LONG_DIRTY },
          '4.216.184.93': { A: '127.0.0.2', TXT: 'never seen: the TXT question fails' },
          '6.216.184.93': { A: '127.0.0.2', TXT: 'never seen: the TXT question is not answered' },
        },
        'rcpt.test': { '5.216.184.93': { A: '127.0.0.2', TXT: ['see https://rcpt.test/5', 'second record'] } },
        'plain.test': { '7.216.184.93': { A: '127.0.0.2', TXT: 'not asked for' } },
        'score.test': { '8.216.184.93': { A: '127.0.0.2', TXT: 'not asked for either' } },
      },
      behaviours: {
        '4.216.184.93.bl.test': { rcode: 'SERVFAIL', types: ['TXT'] },
        '6.216.184.93.bl.test': { drop: true, types: ['TXT'] },
      },
    });
    gw = await startGateway({
      config: {
        dns: { servers: [dns.address], timeout: '300ms', tries: 1 },
        plugins: [{ name: 'rbl', zones: [
          { zone: 'bl.test', action: 'reject', text: 'Blocked: {ip} at {zone}: {txt}' },
          { zone: 'rcpt.test', action: 'reject_rcpt', text: '{ip} listed at {zone} ({code}): {txt}' },
          { zone: 'plain.test', action: 'reject', text: 'Client {ip} is listed at {zone}' },
          { zone: 'score.test', action: 'score', text: 'unused {txt}' },
        ] }],
      },
    });
  });
  after(async () => { await gw?.stop(); await dns?.stop(); });
  beforeEach(() => dns.resetQueries());

  /** XCLIENT's reply: where a `reject` zone's refusal of the client's address is given. */
  async function asClient(addr: string): Promise<{ d: SmtpDialog; r: SmtpReply }> {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    await d.cmd('EHLO client.test');
    return { d, r: await d.cmd(`XCLIENT ADDR=${addr} NAME=[UNAVAILABLE]`) };
  }

  async function typesAsked(name: string): Promise<string[]> {
    return (await dns.queries()).filter((q) => q.name === name).map((q) => q.type).sort();
  }

  it('a 554 at connect carries the list\'s TXT record, asked with the A record', async () => {
    const { d, r } = await asClient('93.184.216.1');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.text, '5.7.1 Blocked: 93.184.216.1 at bl.test: https://bl.test/query/93.184.216.1');
    await d.quit();
    assert.deepEqual(await typesAsked('1.216.184.93.bl.test'), ['A', 'TXT']);
  });

  it('a 550 at RCPT carries it too, several records joined', async () => {
    const { d, r } = await asClient('93.184.216.5');
    assert.equal(r.code, 220, r.text);
    assert.equal((await d.cmd('EHLO client.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    const rcpt = await d.cmd('RCPT TO:<user@example.com>');
    assert.equal(rcpt.code, 550, rcpt.text);
    assert.match(rcpt.text, /^5\.7\.1 93\.184\.216\.5 listed at rcpt\.test \(127\.0\.0\.2\): /);
    // Records come back in the order the server gives; both are there, once each.
    const txt = rcpt.text.replace(/^.*\(127\.0\.0\.2\): /, '').split('; ').sort();
    assert.deepEqual(txt, ['second record', 'see https://rcpt.test/5']);
    await d.quit();
  });

  it('a listing without a TXT record is still refused, with the placeholder left empty', async () => {
    const { d, r } = await asClient('93.184.216.2');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.text, '5.7.1 Blocked: 93.184.216.2 at bl.test:', 'no trailing space either');
    await d.quit();
  });

  it('a TXT question that fails or is never answered changes nothing but the text', async () => {
    for (const addr of ['93.184.216.4', '93.184.216.6']) {
      const { d, r } = await asClient(addr);
      assert.equal(r.code, 554, `${addr}: ${r.code} ${r.text}`);
      assert.equal(r.text, `5.7.1 Blocked: ${addr} at bl.test:`);
      await d.quit();
    }
  });

  it('a TXT record is cleaned for the reply: one line, printable ASCII, at most 200 characters', async () => {
    const { d, r } = await asClient('93.184.216.3');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.lines.length, 1, r.lines.join(' | '));
    const prefix = '5.7.1 Blocked: 93.184.216.3 at bl.test: ';
    assert.ok(r.text.startsWith(prefix + 'Listed X-Evil: 1 caf? xxx'), r.text);
    const txt = r.text.slice(prefix.length);
    assert.ok(txt.length <= TXT_MAX, `${txt.length} characters`);
    assert.match(txt, /^[\x20-\x7e]+$/);
    await d.quit();
  });

  it('TXT is not asked for when the text does not use it, nor for a zone that only scores', async () => {
    const { d, r } = await asClient('93.184.216.7');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.text, '5.7.1 Client 93.184.216.7 is listed at plain.test');
    await d.quit();
    assert.deepEqual(await typesAsked('7.216.184.93.plain.test'), ['A']);
    const c = await asClient('93.184.216.8');
    assert.equal(c.r.code, 220, c.r.text);
    await c.d.quit();
    assert.deepEqual(await typesAsked('8.216.184.93.score.test'), ['A']);
  });
});

describe('plugins/rbl: replyTxt', () => {
  it('joins records, turns control characters into spaces and other bytes into ?, and caps the length', () => {
    assert.equal(replyTxt(['a\r\nb', '  ', 'c\u00e9']), 'a b; c?');
    assert.equal(replyTxt([]), '');
    const long = replyTxt(['y'.repeat(500)]);
    assert.equal(long.length, TXT_MAX);
    assert.ok(long.endsWith('...'));
  });
});
