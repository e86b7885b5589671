// What the Authentication-Results header the mailbox behind us reads says, over real SMTP and a real DNS server on
// loopback: forged copies of ours removed, the RFC's header.from, smtp.mailfrom and dkim results.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { message, sign } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

const FROM_GOOD = { ip: '203.0.113.5', helo: 'mail.good.test' };

/** The Authentication-Results lines of a relayed message. */
function authResults(relayed: string): string[] {
  return relayed.split('\r\n').filter((l) => /^Authentication-Results:/i.test(l));
}

function symbolsOfLast(logs: LogFields[]): string[] {
  const line = logs.filter((l) => l.msg === 'message').at(-1);
  assert.ok(line, 'a message log line');
  return line.symbols as string[];
}

describe('dmarc Authentication-Results end to end', function () {
  this.timeout(20_000);
  const bed = useDmarcBed((key) => ({
    'good.test': {
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      'mail': { A: ['203.0.113.5'], TXT: ['v=spf1 a -all'] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
    },
    'other.test': { '@': { TXT: ['v=spf1 -all'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc', enforce: true },
  ]);
  const { key } = bed;

  it('removes forged headers whose authserv-id is ours quoted or with a trailing dot', async () => {
    for (const [n, forged] of ['"mx.receiver.test"; dmarc=pass header.from=good.test', 'MX.Receiver.TEST.; dmarc=pass header.from=good.test', '(x;y) mx.receiver.test; dmarc=pass'].entries()) {
      const raw = message({ from: 'a@good.test', subject: `forged-ar-${n}`, extraHeaders: [`Authentication-Results: ${forged}`] });
      assert.equal((await bed.send('bounce@good.test', raw, FROM_GOOD)).code, 250);
      const ar = authResults(await bed.gw.relayed(`forged-ar-${n}`));
      assert.equal(ar.length, 1, ar.join('\n'));
      assert.match(ar[0], /^Authentication-Results: mx\.receiver\.test; spf=pass /);
    }
  });

  it('writes the From domain as header.from, not its organisational domain (RFC 7489 11.2)', async () => {
    const raw = await sign(message({ from: 'a@Sub.Good.test', subject: 'header-from-sub' }), 'good.test', 'sel', key);
    assert.equal((await bed.send('bounce@good.test', raw, FROM_GOOD)).code, 250);
    const [ar] = authResults(await bed.gw.relayed('header-from-sub'));
    assert.match(ar, /; dmarc=pass [^;]*header\.from=sub\.good\.test[ ;]/);
  });

  it('writes dkim=fail (DKIM_FAIL) for a body changed after signing, as for a header changed after signing', async () => {
    const signed = await sign(message({ from: 'a@good.test', subject: 'body-hash' }), 'good.test', 'sel', key);
    const raw = Buffer.from(signed.toString('latin1').replace('in spirit', 'in cash'), 'latin1');
    assert.equal((await bed.send('bounce@good.test', raw, FROM_GOOD)).code, 250);
    const [ar] = authResults(await bed.gw.relayed('body-hash'));
    assert.match(ar, /; dkim=fail \(body hash did not verify\) header\.i=@good\.test/);
    const symbols = symbolsOfLast(bed.gw.gw.logs);
    assert.ok(symbols.includes('DKIM_FAIL(2)') && !symbols.some((s) => s.startsWith('DKIM_NEUTRAL')), symbols.join(' '));
  });

  it('writes smtp.mailfrom=postmaster@<HELO name> for a null sender', async () => {
    assert.equal((await bed.send('', message({ from: 'a@good.test', subject: 'null-sender' }), FROM_GOOD)).code, 250);
    const [ar] = authResults(await bed.gw.relayed('null-sender'));
    assert.match(ar, /; spf=pass smtp\.mailfrom=postmaster@mail\.good\.test;/);
  });

  it('says why a From header of several domains none of which fails is a permerror', async () => {
    const raw = message({ from: 'a@good.test, b@other.test', subject: 'two-domains' });
    assert.equal((await bed.send('bounce@good.test', raw, FROM_GOOD)).code, 250);
    const [ar] = authResults(await bed.gw.relayed('two-domains'));
    assert.match(ar, /; dmarc=permerror \(From header names 2 domains, none of which fails DMARC\);/);
    assert.doesNotMatch(ar, /exactly one address/);
  });
});
