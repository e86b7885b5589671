// A DMARC record whose p= or sp= is no policy (RFC 7489 6.6.3), and a policy lookup that fails, over real SMTP and a
// real DNS server on loopback, with enforce on: what the log and the Authentication-Results header say.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { message } from './mail-fixtures.ts';
import { messageLine, useDmarcBed } from './auth-bed.ts';

function dmarcClause(relayed: string): string {
  const ar = relayed.split('\r\n').find((l) => /^Authentication-Results:/i.test(l)) ?? '';
  return ar.split('; ').find((c) => c.startsWith('dmarc=')) ?? '';
}

describe('dmarc records with an invalid policy end to end', function () {
  this.timeout(20_000);
  const bed = useDmarcBed(() => ({
    'bogus.test': { '_dmarc': { TXT: ['v=DMARC1; p=bogus'] } },
    'reported.test': { '_dmarc': { TXT: ['v=DMARC1; p=bogus; rua=mailto:dmarc@reported.test'] } },
    'subpol.test': { '_dmarc': { TXT: ['v=DMARC1; p=reject; sp=bogus'] } },
    'subrep.test': { '_dmarc': { TXT: ['v=DMARC1; p=reject; sp=bogus; rua=mailto:dmarc@subrep.test'] } },
    'slow.test': { '_dmarc': { TXT: ['v=DMARC1; p=reject'] } },
    'envelope.test': { '@': { TXT: ['v=spf1 -all'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc', enforce: true },
  ], { behaviours: { '_dmarc.slow.test': { drop: true } } });

  async function deliver(envelope: string, from: string, subject: string): Promise<{ line: LogFields; clause: string }> {
    const r = await bed.send(envelope, message({ from, subject }));
    assert.equal(r.code, 250, `${from}: ${r.code} ${r.text}`);
    const clause = dmarcClause(await bed.gw.relayed(subject));
    return { line: messageLine(bed.gw.gw.logs, envelope), clause };
  }

  it('does no DMARC processing for p=bogus without rua= (dmarc=none, nothing enforced)', async () => {
    const { line, clause } = await deliver('a@envelope.test', 'ceo@bogus.test', 'bogus-policy');
    const symbols = line.symbols as string[];
    assert.ok(symbols.includes('DMARC_NONE(0)'), symbols.join(' '));
    assert.ok(!symbols.some((s) => s.startsWith('DMARC_FAIL_')), symbols.join(' '));
    assert.equal(clause, 'dmarc=none (invalid p=bogus and no valid rua=: not evaluated) header.from=bogus.test');
  });

  it('acts as p=none for p=bogus with a valid rua= (DMARC_FAIL_NONE, never policy=bogus)', async () => {
    const { line, clause } = await deliver('b@envelope.test', 'ceo@reported.test', 'bogus-reported');
    const details = line.details as string[];
    assert.ok(details.some((d) => /^DMARC_FAIL_NONE: fail from=reported\.test policy=none .*\(invalid p=bogus read as p=none\)$/.test(d)), details.join(' | '));
    assert.equal(clause, 'dmarc=fail (p=NONE arc=none, invalid p=bogus read as p=none) header.from=reported.test');
    assert.doesNotMatch(details.join(' '), /BOGUS|policy=bogus/);
  });

  it('treats an invalid sp= the same way for a subdomain, with and without rua=', async () => {
    const ignored = await deliver('c@envelope.test', 'a@news.subpol.test', 'bogus-sp');
    assert.ok((ignored.line.symbols as string[]).includes('DMARC_NONE(0)'), (ignored.line.symbols as string[]).join(' '));
    assert.equal(ignored.clause, 'dmarc=none (invalid sp=bogus and no valid rua=: not evaluated) header.from=news.subpol.test');
    const asNone = await deliver('d@envelope.test', 'a@news.subrep.test', 'bogus-sp-reported');
    assert.ok((asNone.line.symbols as string[]).includes('DMARC_FAIL_NONE(1)'), (asNone.line.symbols as string[]).join(' '));
    assert.match(asNone.clause, /^dmarc=fail \(p=NONE arc=none, invalid sp=bogus read as p=none\) /);
  });

  it('says policy=unknown when the policy lookup failed', async () => {
    const { line, clause } = await deliver('e@envelope.test', 'ceo@slow.test', 'policy-temperror');
    const details = line.details as string[];
    assert.ok(details.some((d) => /^DMARC_TEMPERROR: temperror from=slow\.test policy=unknown /.test(d)), details.join(' | '));
    assert.equal(clause, 'dmarc=temperror header.from=slow.test');
  });
});
