// What the log and the verdict say about DKIM and DMARC, over real SMTP and a real DNS server on loopback: an unsigned
// message and a DKIM key lookup that fails, as an administrator reads them.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { makeKey, message, sign } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

/** The newest `message` log line of a delivery from `from`. */
function messageLine(logs: LogFields[], from: string): LogFields {
  const line = logs.filter((l) => l.msg === 'message' && l.from === from).at(-1);
  assert.ok(line, `a message log line for ${from}`);
  return line;
}

describe('dmarc findings end to end', function () {
  this.timeout(20_000);
  const bed = useDmarcBed((key) => ({
    'sender.test': {
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      'slow._domainkey': { TXT: [key.dnsRecord] },
      'broken._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
    },
    'quar.test': {
      '@': { TXT: ['v=spf1 -all'] },
      'slow._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: ['v=DMARC1; p=quarantine'] },
    },
    'envelope.test': { '@': { TXT: ['v=spf1 -all'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc', enforce: true },
  ], {
    behaviours: {
      'slow._domainkey.sender.test': { drop: true },
      'broken._domainkey.sender.test': { rcode: 'SERVFAIL' },
      'slow._domainkey.quar.test': { drop: true },
    },
  });
  const { key } = bed;
  const send = (mailFrom: string, raw: Buffer) => bed.send(mailFrom, raw);

  it('says "no signature" for an unsigned message, with no "undefined" in any detail', async () => {
    const r = await send('a@envelope.test', message({ from: 'a@envelope.test', subject: 'unsigned' }));
    assert.equal(r.code, 250, r.text);
    const line = messageLine(bed.gw.gw.logs, 'a@envelope.test');
    const details = line.details as string[];
    assert.ok(details.includes('DKIM_NONE: no signature'), details.join(' | '));
    assert.ok(!details.some((d) => d.includes('undefined')), details.join(' | '));
  });

  it('records a DKIM key lookup that times out as a temperror (score 0) and answers 451 naming the failed lookup', async () => {
    const raw = await sign(message({ from: 'alice@sender.test', subject: 'key-timeout' }), 'sender.test', 'slow', key);
    const r = await send('bounce@sender.test', raw);
    assert.equal(r.code, 451, r.text);
    assert.match(r.text, /^4\.4\.3 DMARC policy of sender\.test could not be checked: the DNS lookup of the DKIM key slow\._domainkey\.sender\.test failed/);
    const line = messageLine(bed.gw.gw.logs, 'bounce@sender.test');
    const symbols = line.symbols as string[];
    assert.ok(symbols.includes('DKIM_TEMPERROR(0)'), symbols.join(' '));
    assert.ok(symbols.includes('DMARC_TEMPERROR(0)'), symbols.join(' '));
    assert.ok(!symbols.some((s) => s.startsWith('DMARC_FAIL_')), symbols.join(' '));
  });

  it('does the same for a key lookup answered SERVFAIL, and for p=quarantine (never held on a DNS failure)', async () => {
    const servfail = await send('bounce@sender.test', await sign(message({ from: 'alice@sender.test', subject: 'key-servfail' }), 'sender.test', 'broken', key));
    assert.equal(servfail.code, 451, servfail.text);
    assert.match(servfail.text, /broken\._domainkey\.sender\.test failed/);
    const quar = await send('bounce@quar.test', await sign(message({ from: 'alice@quar.test', subject: 'key-quar' }), 'quar.test', 'slow', key));
    assert.equal(quar.code, 451, quar.text);
    const symbols = messageLine(bed.gw.gw.logs, 'bounce@quar.test').symbols as string[];
    assert.ok(symbols.includes('DMARC_TEMPERROR(0)') && !symbols.some((s) => s.startsWith('DMARC_FAIL_')), symbols.join(' '));
  });

  it('still refuses with 550 a message that fails DMARC with every lookup answered', async () => {
    const raw = await sign(message({ from: 'alice@sender.test', subject: 'bad-sig' }), 'sender.test', 'sel', makeKey());
    const r = await send('forger@envelope.test', raw);
    assert.equal(r.code, 550, r.text);
    const symbols = messageLine(bed.gw.gw.logs, 'forger@envelope.test').symbols as string[];
    assert.ok(symbols.includes('DMARC_FAIL_REJECT(6)'), symbols.join(' '));
  });
});
