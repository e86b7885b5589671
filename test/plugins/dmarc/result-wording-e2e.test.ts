// What the Authentication-Results header and the findings say of a signer, a revoked key and a signature whose l=
// leaves part of the body unsigned, over real SMTP and a real DNS server on loopback.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { message, sign } from './mail-fixtures.ts';
import { messageLine, useDmarcBed } from './auth-bed.ts';

function clauses(relayed: string): string[] {
  const ar = relayed.split('\r\n').find((l) => /^Authentication-Results:/i.test(l)) ?? '';
  return ar.replace(/^Authentication-Results: /i, '').split('; ');
}

describe('dmarc result wording end to end', function () {
  this.timeout(20_000);
  const bed = useDmarcBed((key) => ({
    'dk.test': {
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      'old._domainkey': { TXT: ['v=DKIM1; k=rsa; p='] },
    },
    'strict.test': { '_dmarc': { TXT: ['v=DMARC1; p=none; adkim=s; aspf=s'] } },
    'envelope.test': { '@': { TXT: ['v=spf1 -all'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc' },
  ]);
  const { key } = bed;

  async function deliver(envelope: string, raw: Buffer, subject: string): Promise<{ line: LogFields; ar: string[] }> {
    const r = await bed.send(envelope, raw);
    assert.equal(r.code, 250, r.text);
    return { line: messageLine(bed.gw.gw.logs, envelope), ar: clauses(await bed.gw.relayed(subject)) };
  }

  it('names only header.from in the dmarc result, never a header.d that signed nothing', async () => {
    const signed = await deliver('a@envelope.test', await sign(message({ from: 'alice@sub.dk.test', subject: 'wording-signed' }), 'dk.test', 'sel', key), 'wording-signed');
    const dmarc = signed.ar.find((c) => c.startsWith('dmarc='));
    assert.equal(dmarc, 'dmarc=pass (p=REJECT arc=none) header.from=sub.dk.test');
    assert.ok(signed.ar.some((c) => /^dkim=pass header\.i=@dk\.test /.test(c)), signed.ar.join(' | '));
    const unsigned = await deliver('b@envelope.test', message({ from: 'alice@strict.test', subject: 'wording-unsigned' }), 'wording-unsigned');
    assert.equal(unsigned.ar.find((c) => c.startsWith('dmarc=')), 'dmarc=fail (p=NONE arc=none) header.from=strict.test');
  });

  it('reports a key published with an empty p= as revoked (dkim=permerror, DKIM_PERMERROR)', async () => {
    const raw = await sign(message({ from: 'alice@dk.test', subject: 'wording-revoked' }), 'dk.test', 'old', key);
    const { line, ar } = await deliver('c@envelope.test', raw, 'wording-revoked');
    assert.ok(ar.some((c) => /^dkim=permerror \(key revoked\) header\.i=@dk\.test header\.s=old /.test(c)), ar.join(' | '));
    const details = line.details as string[];
    assert.ok(details.includes('DKIM_PERMERROR: d=dk.test s=old (key revoked)'), details.join(' | '));
    assert.ok(!(line.symbols as string[]).some((s) => s.startsWith('DKIM_NEUTRAL')), (line.symbols as string[]).join(' '));
  });

  it('gives a pass whose l= leaves bytes unsigned DKIM_PASS_PARTIAL(0), not DKIM_PASS(-1)', async () => {
    const signed = await sign(message({ from: 'alice@dk.test', subject: 'wording-partial' }), 'dk.test', 'sel', key, { maxBodyLength: 5 });
    const raw = Buffer.concat([signed, Buffer.from('Click http://evil.example/ now\r\n')]);
    const { line } = await deliver('d@envelope.test', raw, 'wording-partial');
    const symbols = line.symbols as string[];
    assert.ok(symbols.includes('DKIM_PASS_PARTIAL(0)'), symbols.join(' '));
    assert.ok(!symbols.includes('DKIM_PASS(-1)'), symbols.join(' '));
    assert.ok(symbols.includes('DMARC_FAIL_REJECT(6)'), symbols.join(' '));
    assert.ok((line.details as string[]).some((d) => /^DKIM_PASS_PARTIAL: d=dk\.test s=sel \(l= leaves \d+ bytes unsigned\)$/.test(d)));
  });
});
