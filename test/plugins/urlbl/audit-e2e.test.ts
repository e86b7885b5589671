// urlbl audited end to end: messages through real SMTP into a gateway whose resolver asks the loopback DNS server,
// with the URL spellings SpamAssassin URIBL and Rspamd admins expect to be caught, refusal answers, big messages,
// and defanging that leaves every other byte alone.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

describe('urlbl audit: end to end through SMTP and the loopback DNS server', function () {
  let dns: DnsTestServer;
  let gw: RelayingGateway;

  before(async () => {
    dns = await startDnsServer({
      zones: {
        'dbl.test': {
          'spam.example': { A: '127.0.1.2' },
          'often.example': { A: '127.0.1.2' },
          'xn--bcher-kva.example': { A: '127.0.1.2' },
          'refused.example': { A: '127.0.0.1' },        // SURBL/URIBL: "your resolver is blocked"
          'dblrefused.example': { A: '127.0.1.255' },   // Spamhaus DBL refusal
        },
        'ipbl.test': { '1.113.0.203': { A: '127.0.0.2' }, '2.0.0.127': { A: '127.0.0.2' } },
        'evil.test': { 'evil.example': { A: '127.0.0.2' } },
        'multi.test': { 'phish.example': { A: '127.0.0.72' }, 'twice.example': { A: ['127.0.0.8', '127.0.0.64'] } },
      },
    });
    gw = await startRelayingGateway({
      config: {
        dns: { servers: [dns.address], timeout: '700ms', tries: 1 },
        plugins: [{
          name: 'urlbl',
          zones: [
            { zone: 'dbl.test', symbol: 'URIBL_DBL', score: 1 },
            { zone: 'ipbl.test', type: 'ip', symbol: 'URIBL_IP', score: 1 },
            { zone: 'evil.test', action: 'defang', symbol: 'URIBL_EVIL', score: 1 },
            { zone: 'multi.test', bitmask: true, score: 0.5, codes: {
              '127.0.0.8': { symbol: 'URIBL_MULTI_PH', score: 2 }, '127.0.0.64': { symbol: 'URIBL_MULTI_ABUSE', score: 4 },
            } },
          ],
          max_hosts: 30,
        }],
      },
    });
  });
  after(async () => { await gw?.stop(); await dns?.stop(); });
  beforeEach(() => dns.resetQueries());

  async function relay(message: string | Buffer): Promise<{ raw: string; verdict: string }> {
    const before = gw.sink.messages.length;
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: '93.184.216.50' } })).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(message);
    assert.equal(r.code, 250, r.text);
    await d.quit();
    const [m] = (await gw.sink.waitFor(before + 1)).slice(before);
    const raw = m.raw.toString('latin1');
    return { raw, verdict: /X-Mailmoat-Verdict: ([^\r\n]*)/.exec(raw)?.[1] ?? '' };
  }
  // UTF-8 on the wire, as the Content-Type says (the dialog writes strings as latin1).
  const withBody = (body: string, headers: Record<string, string> = {}) => relay(Buffer.from(testMessage({ body, headers }), 'utf8'));

  const spellings: Array<[string, string, RegExp]> = [
    ['an IP host in decimal', 'See http://3405803777/x', /URIBL_IP/],
    ['an IP host in hex octets', 'See http://0xcb.0x0.0x71.0x1/x', /URIBL_IP/],
    ['an IPv4-mapped IPv6 host', 'See http://[::ffff:203.0.113.1]/x', /URIBL_IP/],
    ['user info before @', 'See http://good.example@www.spam.example/x', /URIBL_DBL/],
    ['an IDN host', 'See http://www.bücher.example/x', /URIBL_DBL/],
    ['upper case and a trailing dot', 'See HTTP://WWW.SPAM.EXAMPLE./X', /URIBL_DBL/],
    ['percent escapes in the host', 'See http://www.sp%61m.example/x', /URIBL_DBL/],
    ['a www. link without a scheme', 'Order at www.spam.example/pills today', /URIBL_DBL/],
  ];
  for (const [what, body, symbol] of spellings) {
    it(`finds the listed host of ${what}`, async () => {
      const html = body.startsWith('<');
      const { verdict } = await withBody(html ? `<html><body>${body}</body></html>\r\n` : `${body}\r\n`,
        html ? { 'Content-Type': 'text/html; charset=utf-8', 'MIME-Version': '1.0' } : { 'Content-Type': 'text/plain; charset=utf-8', 'MIME-Version': '1.0' });
      assert.match(verdict, symbol, JSON.stringify(await dns.queries()));
    });
  }

  it('finds a URL split by a quoted-printable soft line break', async () => {
    const { verdict } = await withBody('See http://www.sp=\r\nam.example/x\r\n',
      { 'MIME-Version': '1.0', 'Content-Type': 'text/plain; charset=us-ascii', 'Content-Transfer-Encoding': 'quoted-printable' });
    assert.match(verdict, /URIBL_DBL/);
  });

  it('a bitmask list (SURBL multi) scores every configured bit of one answer, and every answer of several', async () => {
    for (const host of ['phish.example', 'twice.example']) {
      const { verdict } = await withBody(`See http://${host}/x\r\n`);
      assert.match(verdict, /score=6;/, `${host}: ${verdict}`);
      assert.match(verdict, /URIBL_MULTI_PH\(2\)/);
      assert.match(verdict, /URIBL_MULTI_ABUSE\(4\)/);
    }
  });

  it('takes 127.0.0.1 and 127.0.1.255 for refusals of the query, not listings', async () => {
    const { verdict } = await withBody('See http://refused.example/ and http://dblrefused.example/\r\n');
    assert.doesNotMatch(verdict, /URIBL_/);
  });

  it('does not ask IP lists about loopback or private URL hosts', async () => {
    const { verdict } = await withBody('See http://127.0.0.2/ and http://10.1.2.3/ and http://192.168.1.1/ and http://[::ffff:127.0.0.2]/ and http://[::1]/\r\n');
    assert.doesNotMatch(verdict, /URIBL_IP/);
    assert.deepEqual((await dns.queries()).filter((q) => q.name.endsWith('ipbl.test')), []);
  });

  it('asks about one domain once however often it is linked, and at most max_hosts hosts for thousands of links', async () => {
    const links = Array.from({ length: 3000 }, (_, i) => `http://host${i}.example${i % 1500}.test/p http://www.often.example/${i}`);
    const t0 = Date.now();
    const { verdict } = await withBody(links.join('\r\n') + '\r\n');
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    const names = (await dns.queries()).map((q) => q.name);
    assert.equal(names.filter((n) => n === 'often.example.dbl.test').length, 1);
    assert.ok(names.length <= 30 * 3, `${names.length} queries: max_hosts × the three domain lists`);
    assert.match(verdict, /URIBL_DBL\(1\)/);
  });

  it('over max_hosts, still looks up a listed link hidden behind more harmless ones than that, or linked twice amid them', async () => {
    const pad = (from: number, n: number) => Array.from({ length: n }, (_, i) => `http://pad${from + i}.example/`).join('\r\n');
    const last = await withBody(`${pad(0, 40)}\r\nhttp://www.spam.example/buy\r\n`);
    assert.match(last.verdict, /URIBL_DBL/, 'after 40 harmless links');
    const middle = await withBody(`${pad(100, 40)}\r\nhttp://spam.example/a http://spam.example/b\r\n${pad(200, 40)}\r\n`);
    assert.match(middle.verdict, /URIBL_DBL/, 'between 80 harmless links, linked twice');
  });

  it('defang removes a link whose host HTML writes with a character reference', async () => {
    const html = '<html><body><a href="http://www&#46;evil&#x2e;example/x">offer</a> <a href="https://good.example/">ok</a></body></html>\r\n';
    const { raw, verdict } = await withBody(html, { 'MIME-Version': '1.0', 'Content-Type': 'text/html; charset=us-ascii' });
    assert.match(verdict, /URIBL_EVIL/);
    assert.match(raw, /<a href="link removed">offer<\/a> <a href="https:\/\/good\.example\/">ok<\/a>/);
  });

  it('defang replaces only the listed link and keeps every other byte of the message', async () => {
    const body = 'Visit http://www.evil.example/deal?a=1 now.\r\nKeep https://good.example/ok here.\r\n';
    const sent = testMessage({ body, headers: { 'Content-Type': 'text/plain; charset=us-ascii', 'MIME-Version': '1.0' } });
    const { raw, verdict } = await relay(sent);
    assert.match(verdict, /URIBL_EVIL/);
    const bodyOut = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    assert.equal(bodyOut, 'Visit link removed now.\r\nKeep https://good.example/ok here.\r\n');
    for (const line of sent.slice(0, sent.indexOf('\r\n\r\n')).split('\r\n')) {
      if (!/^Content-Type:/.test(line)) assert.ok(raw.includes(line + '\r\n'), `header kept: ${line}`);
    }
  });
});
