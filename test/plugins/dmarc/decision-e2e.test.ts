// Which DMARC decision a message gets over real SMTP and a real DNS server on loopback, where a lookup that goes
// unanswered could or could not have changed it: strict alignment, several From domains, a trusted ARC sealer.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { makeKey, message, seal, sign } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

/** The symbols of the newest `message` log line (the tests of a describe send one after another). */
function symbolsOfLast(logs: LogFields[]): string[] {
  const line = logs.filter((l) => l.msg === 'message').at(-1);
  assert.ok(line, 'a message log line');
  return line.symbols as string[];
}

describe('dmarc decisions end to end', function () {
  this.timeout(20_000);
  const arcKey = makeKey();
  const bed = useDmarcBed((key) => ({
    'strict.test': {
      '_dmarc': { TXT: ['v=DMARC1; p=reject; adkim=s; aspf=s'] },
      'sub': { TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] },
      'sel._domainkey.sub': { TXT: [key.dnsRecord] },
    },
    'good.test': {
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      'slow._domainkey': { TXT: [key.dnsRecord] },
      'sel._domainkey.keys': { TXT: [key.dnsRecord] },
      'arc._domainkey.other': { TXT: [arcKey.dnsRecord] },
    },
    'spoofed.test': { '_dmarc': { TXT: ['v=DMARC1; p=reject'] } },
    'envelope.test': { '@': { TXT: ['v=spf1 -all'] } },
    'club.test': { '@': { TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc', enforce: true, arc_trusted_sealers: ['other.good.test'] },
  ], {
    behaviours: {
      'sub.strict.test': { drop: true },
      'slow._domainkey.good.test': { drop: true },
      'keys.good.test': { drop: true },
    },
  });
  const { key } = bed;

  it('refuses with 550 under adkim=s when only the key lookup of a subdomain signature went unanswered', async () => {
    const raw = await sign(message({ from: 'a@strict.test', subject: 'strict-dkim' }), 'sub.strict.test', 'sel', key);
    const r = await bed.send('bounce@envelope.test', raw);
    assert.equal(r.code, 550, r.text);
    assert.match(r.text, /^5\.7\.1 .*DMARC policy of strict\.test/);
    assert.ok(symbolsOfLast(bed.gw.gw.logs).includes('DMARC_FAIL_REJECT(6)'));
  });

  it('refuses with 550 under aspf=s when only the SPF lookup of a subdomain envelope went unanswered', async () => {
    const r = await bed.send('a@sub.strict.test', message({ from: 'a@strict.test', subject: 'strict-spf' }));
    assert.equal(r.code, 550, r.text);
    const symbols = symbolsOfLast(bed.gw.gw.logs);
    assert.ok(symbols.includes('SPF_TEMPERROR(0)'), symbols.join(' '));
  });

  it('still answers 451 under relaxed alignment when the unanswered key is a subdomain signature that could align', async () => {
    const raw = await sign(message({ from: 'a@good.test', subject: 'relaxed-dkim' }), 'keys.good.test', 'sel', key);
    const r = await bed.send('bounce@envelope.test', raw);
    assert.equal(r.code, 451, r.text);
    assert.match(r.text, /^4\.4\.3 DMARC policy of good\.test could not be checked: the DNS lookup of the DKIM key sel\._domainkey\.keys\.good\.test failed/);
  });

  it('refuses with 550 naming the domain that fails for sure, whichever order the From addresses come in', async () => {
    for (const from of ['a@good.test, b@spoofed.test', 'b@spoofed.test, a@good.test']) {
      const raw = await sign(message({ from, subject: `two-from ${from}` }), 'good.test', 'slow', key);
      const r = await bed.send('bounce@envelope.test', raw);
      assert.equal(r.code, 550, `${from}: ${r.code} ${r.text}`);
      assert.match(r.text, /DMARC policy of spoofed\.test/, from);
    }
  });

  it('answers 451 for several From domains when the only failing one is unsure', async () => {
    const raw = await sign(message({ from: 'b@envelope.test, a@good.test', subject: 'two-from-unsure' }), 'good.test', 'slow', key);
    const r = await bed.send('bounce@envelope.test', raw);
    assert.equal(r.code, 451, r.text);
    assert.match(r.text, /DMARC policy of good\.test could not be checked/);
  });

  it('scores a trusted ARC sealer\'s rewritten message as DMARC_ARC_OVERRIDE, not as a DMARC failure', async () => {
    const original = await sign(message({ from: 'alice@good.test', subject: 'Minutes' }), 'good.test', 'sel', key);
    const listed = Buffer.from(original.toString('latin1')
      .replace('Subject: Minutes', 'Subject: [club] Minutes arc-override')
      .replace(/\r\n$/, '\r\n--\r\nclub mailing list\r\n'), 'latin1');
    const sealed = await seal(listed, 'other.good.test', 'arc', arcKey, 'other.good.test; dkim=pass header.d=good.test; dmarc=pass');
    const r = await bed.send('club-bounces@club.test', sealed);
    assert.equal(r.code, 250, r.text);
    const line = bed.gw.gw.logs.filter((l) => l.msg === 'message').at(-1)!;
    const symbols = line.symbols as string[];
    assert.ok(symbols.includes('ARC_PASS(0)'), symbols.join(' '));
    assert.ok(symbols.includes('DMARC_ARC_OVERRIDE(0)'), symbols.join(' '));
    assert.ok(!symbols.some((s) => s.startsWith('DMARC_FAIL_')), symbols.join(' '));
    const relayed = await bed.gw.relayed('arc-override');
    assert.doesNotMatch(relayed, /^X-Mailmoat-Spam: Yes/m);
  });
});
