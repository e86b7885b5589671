// rbl audited end to end: real SMTP (XCLIENT gives the client address) against a gateway whose resolver asks the
// loopback DNS server, for the answers admins of postscreen and Rspamd know: refusal codes, non-127 answers,
// several A records, IPv6 clients, SERVFAIL and a list that never answers.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const V6_LISTED = '2001:db8::bad';
const V6_LISTED_REV = 'd.a.b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';
const client = (last: number) => `93.184.216.${last}`;
const rev = (last: number) => `${last}.216.184.93`;

describe('rbl audit: end to end through SMTP and the loopback DNS server', function () {
  let dns: DnsTestServer;
  let gw: RelayingGateway;

  before(async () => {
    dns = await startDnsServer({
      zones: {
        'bl.test': {
          [rev(1)]: { A: '127.0.0.2' },
          [rev(2)]: { A: '127.255.255.254' },   // Spamhaus: query through a public resolver
          [rev(3)]: { A: '127.0.1.255' },       // "IP queries prohibited" style refusal
          [rev(4)]: { A: '127.0.0.1' },         // SURBL/URIBL style "your resolver is blocked"
          [rev(5)]: { A: '10.0.0.1' },          // a resolver rewriting NXDOMAIN
          [rev(9)]: { A: '127.0.0.2' },
          [V6_LISTED_REV]: { A: '127.0.0.2' },
        },
        'multi.test': {
          [rev(7)]: { A: ['127.0.0.4', '127.0.0.8'] },
          [rev(8)]: { A: ['127.0.0.8', '127.0.0.16'] },
        },
        'wl.test': { [rev(9)]: { A: '127.0.0.255' } },   // dnswl.org: "you exceeded the query limit"
      },
    });
    await dns.setBehaviour(`${rev(6)}.bl.test`, { rcode: 'SERVFAIL' });
    await dns.setBehaviour(`${rev(10)}.bl.test`, { drop: true });
    gw = await startRelayingGateway({
      config: {
        dns: { servers: [dns.address], timeout: '700ms', tries: 1 },
        plugins: [{
          name: 'rbl',
          zones: [
            { zone: 'bl.test', action: 'reject', text: 'Client {ip} is listed at {zone}' },
            { zone: 'multi.test', action: 'score', score: 2, codes: { '127.0.0.4': { symbol: 'RBL_MULTI_A', score: 3 } } },
          ],
          allow_zones: [{ zone: 'wl.test', score: -5 }],
        }],
      },
    });
  });
  after(async () => { await gw?.stop(); await dns?.stop(); });

  async function xclient(addr: string): Promise<{ d: SmtpDialog; code: number; text: string }> {
    const d = await SmtpDialog.connect(gw.port);
    const r = await d.hello({ xclient: { addr } });
    return { d, code: r.code, text: r.text };
  }

  async function relayedVerdict(addr: string): Promise<string> {
    const before = gw.sink.messages.length;
    const { d, code, text } = await xclient(addr);
    assert.equal(code, 250, `${addr}: ${code} ${text}`);
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(testMessage());
    assert.equal(r.code, 250, r.text);
    await d.quit();
    const [m] = (await gw.sink.waitFor(before + 1)).slice(before);
    return /X-Mailmoat-Verdict: ([^\r\n]*)/.exec(m.raw.toString())?.[1] ?? '';
  }

  it('refuses a listed client with 554 5.7.1 naming the list', async () => {
    const { d, code, text } = await xclient(client(1));
    assert.equal(code, 554, text);
    assert.match(text, /5\.7\.1 Client 93\.184\.216\.1 is listed at bl\.test/);
    await d.quit();
  });

  for (const [last, what] of [[2, '127.255.255.254'], [3, '127.0.1.255'], [4, '127.0.0.1'], [5, 'an answer outside 127/8']] as const) {
    it(`takes ${what} for a refusal of the query, not a listing`, async () => {
      const verdict = await relayedVerdict(client(last));
      assert.doesNotMatch(verdict, /RBL_/);
    });
  }

  it('a DNSWL "query limit exceeded" answer (127.0.0.255) does not allowlist a listed client', async () => {
    const { d, code, text } = await xclient(client(9));
    assert.equal(code, 554, text);
    await d.quit();
  });

  it('refuses a listed IPv6 client by its reversed nibbles', async () => {
    const { d, code, text } = await xclient(`IPV6:${V6_LISTED}`);
    assert.equal(code, 554, text);
    assert.match(text, /listed at bl\.test/);
    await d.quit();
  });

  it('several answers of one list: a mapped code keeps its own symbol, unmapped codes count the zone symbol once', async () => {
    assert.match(await relayedVerdict(client(7)), /RBL_MULTI_A\(3\) RBL_MULTI\(2\)|RBL_MULTI\(2\) RBL_MULTI_A\(3\)/);
    const verdict = await relayedVerdict(client(8));
    assert.equal(verdict.match(/RBL_MULTI\(/g)?.length, 1, verdict);
    assert.match(verdict, /score=2;/);
  });

  it('SERVFAIL is a temporary failure (4xx), never a refusal', async () => {
    const { d, code, text } = await xclient(client(6));
    assert.ok(code >= 400 && code < 500, `${code} ${text}`);
    assert.doesNotMatch(text, /bl\.test/);
    await d.quit();
  });

  it('a list that never answers delays only its own client, then 4xx; others are served meanwhile', async () => {
    const t0 = Date.now();
    const stuck = xclient(client(10));
    await new Promise((r) => setTimeout(r, 100));
    const other = await xclient(client(11));
    assert.equal(other.code, 250, other.text);
    assert.ok(Date.now() - t0 < 600, `the clean client waited ${Date.now() - t0} ms`);
    await other.d.quit();
    const s = await stuck;
    assert.ok(s.code >= 400 && s.code < 500, `${s.code} ${s.text}`);
    assert.ok(Date.now() - t0 < 3000);
    await s.d.quit();
  });
});
