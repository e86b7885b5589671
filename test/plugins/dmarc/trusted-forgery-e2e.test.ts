// A forged Authentication-Results in our name from a client whose checks are skipped (a relay network named by
// XCLIENT) is removed all the same, over real SMTP and a real DNS server on loopback.
import assert from 'node:assert/strict';
import { message } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';

const RELAY_CLIENT = { ip: '192.0.2.200', helo: 'app.internal.test' };
const FORGED = 'Authentication-Results: mx.receiver.test; dkim=pass header.d=bank.example; dmarc=pass header.from=bank.example';

function authResults(relayed: string): string[] {
  return relayed.split('\r\n').filter((l) => /^Authentication-Results:/i.test(l));
}

describe('dmarc strip_forged for trusted clients end to end', function () {
  this.timeout(20_000);
  const bed = useDmarcBed(() => ({
    'bank.example': { '_dmarc': { TXT: ['v=DMARC1; p=reject'] } },
  }), [
    { name: 'spf' },
    { name: 'dmarc', enforce: true },
  ], { extra: { relay: { networks: ['192.0.2.200/32'] } } });

  it('removes a forged header naming our authserv-id from a relay-network client, and adds none of its own', async () => {
    const raw = message({ from: 'alerts@bank.example', subject: 'trusted-forged-ar', extraHeaders: [FORGED] });
    assert.equal((await bed.send('alerts@bank.example', raw, RELAY_CLIENT)).code, 250);
    const relayed = await bed.gw.relayed('trusted-forged-ar');
    assert.deepEqual(authResults(relayed), [], relayed.split('\r\n\r\n')[0]);
    assert.doesNotMatch(relayed, /^Received-SPF:/m, 'the checks themselves are still skipped');
  });

  it('keeps a relay-network client\'s Authentication-Results of another authserv-id', async () => {
    const foreign = 'Authentication-Results: mx.elsewhere.test; dkim=pass header.d=bank.example';
    const raw = message({ from: 'alerts@bank.example', subject: 'trusted-foreign-ar', extraHeaders: [foreign] });
    assert.equal((await bed.send('alerts@bank.example', raw, RELAY_CLIENT)).code, 250);
    assert.deepEqual(authResults(await bed.gw.relayed('trusted-foreign-ar')), [foreign]);
  });
});
