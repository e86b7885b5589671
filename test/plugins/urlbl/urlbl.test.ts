// urlbl against the loopback DNS server: domain and IP lists, score/reject/defang, registered domains, timeouts.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import urlbl from '../../../plugins/urlbl/index.ts';
import { distinctHosts, urlHost } from '../../../plugins/urlbl/hosts.ts';
import { SpooledMessage } from '../../../core/message/spooled-message.ts';
import { headerEnd } from '../../../core/message/header-block.ts';
import { pluginHarness } from '../rbl/harness.ts';
import { longestStall } from '../../helpers/event-loop-stall.ts';

const MESSAGE = [
  'From: a@sender.test', 'To: b@rcpt.test', 'Subject: offers', 'MIME-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="b1"', '',
  '--b1', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable', '',
  'Caf=E9 deals at http://www.spam.example/path?a=3D1 and https://sub.bad.example/x =',
  'and http://203.0.113.5/y and https://good.example/ok', '',
  '--b1', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64', '',
  Buffer.from('<p>Click <a href="http://www.spam.example/path?a=1&amp;b=2">here</a> or <a href="https://good.example/ok">there</a></p>\r\n').toString('base64'),
  '--b1--', '',
].join('\r\n');

describe('plugins/urlbl', () => {
  let dns: DnsTestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'urlbl-'));
    dns = await startDnsServer({
      zones: {
        'dbl.test': { 'spam.example': { A: '127.0.1.2' } },
        'multi.test': { 'bad.example': { A: '127.0.0.4' }, 'spam.example': { A: '127.0.0.4' } },
        'ipbl.test': { '5.113.0.203': { A: '127.0.0.2' } },
        'dead.test': {},
      },
      behaviours: { 'dead.test': { drop: true } },
    });
  });
  after(async () => { await dns?.stop(); await rm(dir, { recursive: true, force: true }); });
  beforeEach(() => dns.resetQueries());

  let n = 0;
  async function message(raw: string | Buffer): Promise<SpooledMessage> {
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'latin1');
    const path = join(dir, `m${++n}.eml`);
    await writeFile(path, buf);
    return new SpooledMessage(`m${n}`, path, buf.length, buf.subarray(0, headerEnd(buf)));
  }
  const run = async (opts: object, raw: string | Buffer = MESSAGE, timeout = 300) => {
    const h = await pluginHarness(urlbl, opts, dns.address, { timeout });
    return h.connect({}).run('data', { message: await message(raw) });
  };

  it('score: looks up registered domains and URL IPs, one finding per symbol', async () => {
    const r = await run({ zones: [{ zone: 'dbl.test', score: 7 }, { zone: 'multi.test', score: 4 }, { zone: 'ipbl.test', type: 'ip', score: 3 }] });
    assert.equal(r.outcome, undefined);
    assert.deepEqual(r.findings.map((f) => [f.symbol, f.score]).sort(), [['URIBL_DBL', 7], ['URIBL_IPBL', 3], ['URIBL_MULTI', 4]]);
    assert.match(String(r.findings.find((f) => f.symbol === 'URIBL_MULTI')?.detail), /bad\.example .*spam\.example|spam\.example .*bad\.example/);
    const names = (await dns.queries()).map((q) => q.name).sort();
    assert.ok(names.includes('spam.example.dbl.test') && !names.some((x) => x.startsWith('www.')), names.join(' '));
    assert.ok(names.includes('5.113.0.203.ipbl.test'));
  });

  it('code maps give an answer its own symbol and score', async () => {
    const r = await run({ zones: [{ zone: 'dbl.test', codes: { '127.0.1.2': { symbol: 'URIBL_DBL_SPAM', score: 9 } } }] });
    assert.deepEqual(r.findings.map((f) => [f.symbol, f.score]), [['URIBL_DBL_SPAM', 9]]);
  });

  it('reject: refuses the message (554 5.7.1) naming the listed host', async () => {
    const r = await run({ zones: [{ zone: 'multi.test', action: 'reject' }], text: 'No links to {host} ({zone})' });
    assert.equal(r.outcome?.action, 'reject');
    assert.equal(r.outcome?.code, 554);
    assert.match(String(r.outcome?.text), /^No links to (bad|spam)\.example \(multi\.test\)$/);
  });

  it('defang: replaces each listed link with "link removed" in the text and HTML parts, and keeps the others', async () => {
    const r = await run({ zones: [{ zone: 'dbl.test', action: 'defang', score: 1 }] });
    assert.equal(r.outcome, undefined);
    assert.deepEqual(r.findings.map((f) => f.symbol), ['URIBL_DBL']);
    assert.ok(r.rewritten, 'the message was rewritten');
    const parsed = await (await message(r.rewritten)).parsed();
    assert.ok(!parsed.urls.some((u) => u.includes('spam.example')), parsed.urls.join(' '));
    assert.ok(parsed.urls.includes('https://good.example/ok'));
    assert.ok(parsed.urls.some((u) => u.includes('bad.example')));
    assert.match(parsed.text, /Café deals at link removed and https:\/\/sub\.bad\.example\/x/);
    assert.match(parsed.html, /href="link removed"/);
    const raw = r.rewritten.toString('latin1');
    assert.match(raw, /Subject: offers/);
    assert.match(raw, /--b1--/);
  });

  it('skip_domains are never looked up; defang rewrites a single-part message in place', async () => {
    const plain = 'From: a@b.test\r\nSubject: hi\r\n\r\nsee https://good.example/ and http://www.spam.example/\r\n';
    const r = await run({ zones: [{ zone: 'dbl.test', action: 'defang' }], skip_domains: ['spam.example'] }, plain);
    assert.equal(r.rewritten, undefined);
    assert.deepEqual(r.findings, []);
    const r2 = await run({ zones: [{ zone: 'dbl.test', action: 'defang' }] }, plain);
    assert.match(r2.rewritten!.toString(), /see https:\/\/good\.example\/ and link removed\r\n$/);
  });

  it('a list that never answers is a tempfail (451 4.4.3); on_error: skip records URIBL_<ZONE>_UNAVAILABLE', async () => {
    const r = await run({ zones: [{ zone: 'dead.test' }, { zone: 'dbl.test' }] }, MESSAGE, 200);
    assert.equal(r.outcome?.action, 'tempfail');
    assert.equal(r.outcome?.enhanced, '4.4.3');
    const s = await run({ zones: [{ zone: 'dead.test', on_error: 'skip' }, { zone: 'dbl.test' }] }, MESSAGE, 200);
    assert.equal(s.outcome, undefined);
    assert.ok(s.findings.some((f) => f.symbol === 'URIBL_DEAD_UNAVAILABLE' && f.score === 0));
    assert.ok(s.findings.some((f) => f.symbol === 'URIBL_DBL'));
  });

  it('a listing in a fast list refuses even when another list does not answer', async () => {
    const r = await run({ zones: [{ zone: 'dead.test' }, { zone: 'multi.test', action: 'reject' }] }, MESSAGE, 200);
    assert.equal(r.outcome?.action, 'reject');
  });

  it('asks every host in every list at once: slow lists cost one delay, not their sum', async () => {
    await dns.setBehaviour('dbl.test', { delay: 300 });
    await dns.setBehaviour('multi.test', { delay: 300 });
    try {
      const r = await run({ zones: [{ zone: 'dbl.test' }, { zone: 'multi.test' }] }, MESSAGE, 2000);
      assert.equal(r.findings.length, 2);
      assert.ok(r.ms < 550, `took ${r.ms} ms for 6 slow lookups`);
    } finally {
      await dns.clearBehaviours();
      await dns.setBehaviour('dead.test', { drop: true });
    }
  });
});

describe('plugins/urlbl: the hosts of a message\'s links', () => {
  it('reads each site once and still gives every link the host the URL parser gives it', async () => {
    const urls = [
      'http://www.shop.example/a', 'https://WWW.Shop.Example:8443/b?c=d', 'http://shop.example#frag/x', 'http://good.example@evil.example/',
      'http://user:pw@other.example/x', 'http://spam&#46;example/p', 'http://spam&#x2e;example&#47;q/r', 'http://[::ffff:203.0.113.9]/',
      'http://10.0.0.1/', 'http://a.example%2Fb.example/', 'http://x.example:99999/', 'http://trail.example./p', 'https://%77ww.enc.example/',
    ];
    const expected = [...new Map(urls.map(urlHost).filter((h) => h !== undefined).map((h) => [`${h.kind} ${h.key}`, h])).values()];
    assert.deepEqual(await distinctHosts(urls, new Set(), 100), expected);
    assert.deepEqual(expected.map((h) => h.key), ['shop.example', 'evil.example', 'other.example', 'spam.example', '203.0.113.9', 'trail.example', 'enc.example']);
  });

  it('counts 200,000 links to as many sites without holding the event loop (was 0.9 s in one stretch)', async function () {
    this.timeout(20_000);
    const urls = Array.from({ length: 200_000 }, (_, i) => `https://www.site${i}.example/p`);
    let hosts: Awaited<ReturnType<typeof distinctHosts>> = [];
    const longest = await longestStall(async () => { hosts = await distinctHosts(urls, new Set(), 30); });
    // Ties from both ends of the message in turn.
    assert.deepEqual(hosts.slice(0, 4).map((h) => h.key), ['site0.example', 'site199999.example', 'site1.example', 'site199998.example']);
    // Under a tenth of it in practice; the old code held it 550–900 ms on this machine.
    assert.ok(longest < 300, `event loop held for ${Math.round(longest)} ms`);
  });
});
