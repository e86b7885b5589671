// How mailing-list and forwarded copies score, over real SMTP, a real DNS server on loopback serving the keys and
// DMARC records, and a real sink: the author signs, the list tags the subject, adds a footer, signs its copy and
// seals it with ARC, as a list server does, and the verdict the mailbox behind us reads is checked.
import assert from 'node:assert/strict';
import { message, seal, sign, type TestKey } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

const LIST_HOST = { ip: '198.51.100.9', helo: 'lists.list.test' };

/** The symbols, score and spam flag of the relayed copy, as X-Mailmoat-Verdict and X-Mailmoat-Spam say them. */
function verdictOf(relayed: string): { symbols: string[]; score: number; spam: string } {
  const verdict = /^X-Mailmoat-Verdict: (.*)$/m.exec(relayed)?.[1];
  assert.ok(verdict, 'an X-Mailmoat-Verdict header');
  const symbols = (/; symbols=([^;]*)/.exec(verdict)?.[1] ?? '').split(' ').filter(Boolean);
  const score = Number(/; score=(-?[\d.]+)/.exec(verdict)?.[1]);
  return { symbols, score, spam: /^X-Mailmoat-Spam: (.*)$/m.exec(relayed)?.[1] ?? '' };
}

/** What a list does to a post: `[list]` before the subject and a footer after the body; both break the author's signature. */
function asListCopy(signed: Buffer): Buffer {
  const text = signed.toString('latin1')
    .replace(/^Subject: /m, 'Subject: [list] ')
    .replace(/\r\n$/, '\r\n--\r\nlist mailing list\r\nhttps://list.test/mailman/listinfo/list\r\n');
  return Buffer.from(`List-Id: <list.list.test>\r\n${text}`, 'latin1');
}

async function listCopy(from: string, domain: string, subject: string, key: TestKey, listSigns = true): Promise<Buffer> {
  const posted = await sign(message({ from, subject }), domain, 'sel', key);
  const rewritten = asListCopy(posted);
  const signed = listSigns ? await sign(rewritten, 'list.test', 'sel', key) : rewritten;
  return seal(signed, 'list.test', 'arc', key, `list.test; spf=pass smtp.mailfrom=${domain}; dkim=pass header.d=${domain}`);
}

describe('dmarc scores of mailing-list and forwarded copies end to end', function () {
  this.timeout(30_000);
  const bed = useDmarcBed((key) => {
    const author = (policy: string) => ({
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: [`v=DMARC1; p=${policy}`] },
    });
    return {
      'author.test': author('reject'),
      'monitor.test': author('none'),
      'bank.test': author('reject'),
      'list.test': {
        '@': { TXT: ['v=spf1 ip4:198.51.100.9 -all'] },
        'sel._domainkey': { TXT: [key.dnsRecord] },
        'arc._domainkey': { TXT: [key.dnsRecord] },
      },
      'phish.test': {
        '@': { TXT: ['v=spf1 ip4:198.51.100.9 -all'] },
        'sel._domainkey': { TXT: [key.dnsRecord] },
      },
    };
  }, [{ name: 'spf' }, { name: 'dmarc' }]);

  it('records the author signature a list broke as DKIM_FAIL_OTHER_PASS (0) when the list signs its copy, so a p=reject post is not tagged', async () => {
    const raw = await listCopy('alice@author.test', 'author.test', 'list-reject', bed.key);
    assert.equal((await bed.send('list-bounces@list.test', raw, LIST_HOST)).code, 250);
    const v = verdictOf(await bed.gw.relayed('list-reject'));
    for (const s of ['SPF_PASS(-1)', 'DKIM_PASS(-1)', 'DKIM_FAIL_OTHER_PASS(0)', 'ARC_PASS(0)', 'DMARC_FAIL_REJECT(6)']) {
      assert.ok(v.symbols.includes(s), `${s} in ${v.symbols.join(' ')}`);
    }
    assert.ok(!v.symbols.some((s) => s.startsWith('DKIM_FAIL(')), v.symbols.join(' '));
    assert.equal(v.score, 4);
    assert.equal(v.spam, 'No');
  });

  it('costs a p=none author nothing for the footer: DMARC_FAIL_NONE (1) is all the broken signature adds', async () => {
    const raw = await listCopy('bob@monitor.test', 'monitor.test', 'list-none', bed.key);
    assert.equal((await bed.send('list-bounces@list.test', raw, LIST_HOST)).code, 250);
    const v = verdictOf(await bed.gw.relayed('list-none'));
    assert.ok(v.symbols.includes('DKIM_FAIL_OTHER_PASS(0)') && v.symbols.includes('DMARC_FAIL_NONE(1)'), v.symbols.join(' '));
    assert.equal(v.score, -1);
  });

  it('keeps DKIM_FAIL (2) when no signature verifies: a list or forwarder that does not sign its copy', async () => {
    const raw = await listCopy('carol@author.test', 'author.test', 'list-unsigned', bed.key, false);
    assert.equal((await bed.send('list-bounces@list.test', raw, LIST_HOST)).code, 250);
    const v = verdictOf(await bed.gw.relayed('list-unsigned'));
    assert.ok(v.symbols.includes('DKIM_FAIL(2)') && v.symbols.includes('DMARC_FAIL_REJECT(6)'), v.symbols.join(' '));
    assert.ok(!v.symbols.some((s) => s.startsWith('DKIM_FAIL_OTHER_PASS')), v.symbols.join(' '));
    assert.equal(v.spam, 'Yes');

    // A list signature whose l= leaves part of the body unsigned vouches for nothing, so it is no good one either.
    const posted = await sign(message({ from: 'carol@author.test', subject: 'list-partial' }), 'author.test', 'sel', bed.key);
    const partial = await sign(asListCopy(posted), 'list.test', 'sel', bed.key, { maxBodyLength: 10 });
    assert.equal((await bed.send('list-bounces@list.test', partial, LIST_HOST)).code, 250);
    const p = verdictOf(await bed.gw.relayed('list-partial'));
    assert.ok(p.symbols.includes('DKIM_PASS_PARTIAL(0)') && p.symbols.includes('DKIM_FAIL(2)'), p.symbols.join(' '));
  });

  it('scores a forward without SRS 2 (delivered) and one that also adds a banner 12 (fails DMARC), as the README table says', async () => {
    const forwarder = { ip: '192.0.2.50', helo: 'forwarder.example.net' };
    const plain = await sign(message({ from: 'dave@author.test', subject: 'forward-plain' }), 'author.test', 'sel', bed.key);
    assert.equal((await bed.send('dave@author.test', plain, forwarder)).code, 250);
    const a = verdictOf(await bed.gw.relayed('forward-plain'));
    assert.deepEqual([a.score, a.spam], [2, 'No'], a.symbols.join(' '));
    assert.ok(a.symbols.includes('SPF_FAIL(4)') && a.symbols.includes('DMARC_PASS(-1)'), a.symbols.join(' '));

    const signed = await sign(message({ from: 'dave@author.test', subject: 'forward-banner' }), 'author.test', 'sel', bed.key);
    const banner = Buffer.from(signed.toString('latin1').replace('\r\n\r\nHello,', '\r\n\r\n[EXTERNAL] forwarded by example.net\r\nHello,'), 'latin1');
    assert.equal((await bed.send('dave@author.test', banner, forwarder)).code, 250);
    const b = verdictOf(await bed.gw.relayed('forward-banner'));
    assert.equal(b.score, 12, b.symbols.join(' '));
    assert.ok(['SPF_FAIL(4)', 'DKIM_FAIL(2)', 'DMARC_FAIL_REJECT(6)'].every((s) => b.symbols.includes(s)), b.symbols.join(' '));
  });

  it('gives a phisher who adds a broken bank signature beside a valid one of his own no more than leaving it out would', async () => {
    const forged = message({ from: 'security@bank.test', subject: 'phish-broken-bank-sig' });
    // A bank signature that does not verify: made over other text, then the message it is put on changed.
    const bankSigned = await sign(forged, 'bank.test', 'sel', bed.key);
    const broken = Buffer.from(bankSigned.toString('latin1').replace('attached in spirit', 'at https://bank.example.net/login'), 'latin1');
    const withBroken = await sign(broken, 'phish.test', 'sel', bed.key);
    assert.equal((await bed.send('x@phish.test', withBroken, LIST_HOST)).code, 250);
    const a = verdictOf(await bed.gw.relayed('phish-broken-bank-sig'));
    assert.ok(a.symbols.includes('DKIM_FAIL_OTHER_PASS(0)') && a.symbols.includes('DMARC_FAIL_REJECT(6)'), a.symbols.join(' '));

    const plain = await sign(message({ from: 'security@bank.test', subject: 'phish-own-sig-only' }), 'phish.test', 'sel', bed.key);
    assert.equal((await bed.send('x@phish.test', plain, LIST_HOST)).code, 250);
    const b = verdictOf(await bed.gw.relayed('phish-own-sig-only'));
    assert.ok(b.symbols.includes('DMARC_FAIL_REJECT(6)'), b.symbols.join(' '));
    assert.equal(a.score, b.score);
    // Without any signature, the spoof still reaches add_header (5) on DMARC_FAIL_REJECT alone.
    assert.equal((await bed.send('x@phish.test', message({ from: 'security@bank.test', subject: 'phish-unsigned' }), LIST_HOST)).code, 250);
    const c = verdictOf(await bed.gw.relayed('phish-unsigned'));
    assert.deepEqual([c.score, c.spam], [5, 'Yes'], c.symbols.join(' '));
  });
});
