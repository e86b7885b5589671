// End to end: real SMTP sessions (XCLIENT from a trusted proxy) through the gateway with spf and dmarc, over a real
// DNS server on loopback serving SPF, DKIM and DMARC records; messages are DKIM-signed in the test.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { message, sign } from './mail-fixtures.ts';
import { useDmarcBed } from './auth-bed.ts';
import { openSession } from '../spf/e2e-setup.ts';

describe('spf and dmarc end to end', function () {
  this.timeout(20_000);
  const bed = useDmarcBed((key) => ({
    'sender.test': {
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      'mail': { A: ['203.0.113.5'], TXT: ['v=spf1 a -all'] },
      'sel._domainkey': { TXT: [key.dnsRecord] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
    },
    'soft.test': {
      '@': { TXT: ['v=spf1 ~all'] },
      '_dmarc': { TXT: ['v=DMARC1; p=quarantine'] },
    },
    'dead.test': { '@': { TXT: ['v=spf1 -all'] } },
  }), [
    { name: 'spf', reject_fail: true },
    { name: 'dmarc', enforce: true },
  ], { extra: { relay: { networks: ['192.0.2.0/24'] } }, behaviours: { 'dead.test': { drop: true } } });

  it('accepts a signed message from an authorised host with spf, dkim and dmarc pass in one Authentication-Results', async () => {
    const raw = await sign(message({ from: 'Alice <alice@sender.test>', subject: 'e2e-pass' }), 'sender.test', 'sel', bed.key);
    const done = await bed.send('bounce@sender.test', raw, { ip: '203.0.113.5', helo: 'mail.sender.test' });
    assert.equal(done.code, 250, done.text);
    const relayed = await bed.gw.relayed('e2e-pass');
    assert.match(relayed, /^Received-SPF: pass \(mx\.receiver\.test: domain of bounce@sender\.test designates 203\.0\.113\.5 as permitted sender\)/m);
    const ar = relayed.split('\r\n').filter((l) => l.startsWith('Authentication-Results:'));
    assert.equal(ar.length, 1);
    const asked = (await bed.gw.dns.queries()).map((q) => `${q.type} ${q.name}`);
    for (const q of ['TXT sender.test', 'TXT sel._domainkey.sender.test', 'TXT _dmarc.sender.test']) assert.ok(asked.includes(q), `${q} went to the loopback DNS server`);
    assert.match(ar[0], /^Authentication-Results: mx\.receiver\.test; spf=pass smtp\.mailfrom=bounce@sender\.test; dkim=pass header\.i=@sender\.test header\.s=sel .*; dmarc=pass .*header\.from=sender\.test.*; arc=none/);
  });

  it('refuses MAIL FROM with 550 5.7.23 when SPF fails and reject_fail is set', async () => {
    const c = await openSession(bed.gw.gw.port, '198.51.100.9', 'client.example.net');
    const r = await c.cmd('MAIL FROM:<bounce@sender.test>');
    assert.equal(r.code, 550);
    assert.match(r.text, /^5\.7\.23 SPF check failed/);
    await c.quit();
  });

  it('refuses at end of DATA with 550 5.7.1 when From fails DMARC p=reject (softfailing envelope, no signature)', async () => {
    const r = await bed.send('bounce@soft.test', message({ from: 'alice@sender.test', subject: 'e2e-dmarc-reject' }));
    assert.equal(r.code, 550);
    assert.match(r.text, /5\.7\.1 .*DMARC policy of sender\.test/);
  });

  it('quarantines (250, held, not relayed) a message that fails DMARC p=quarantine', async () => {
    const r = await bed.send('bounce@soft.test', message({ from: 'alice@soft.test', subject: 'e2e-dmarc-quarantine' }));
    assert.equal(r.code, 250, r.text);
    const dir = path.join(bed.gw.gw.dataDir, 'quarantine');
    const held = await Promise.all((await readdir(dir)).map((f) => readFile(path.join(dir, f), 'latin1')));
    assert.ok(held.some((t) => t.includes('e2e-dmarc-quarantine')), 'the message is in the quarantine folder');
    await assert.rejects(bed.gw.relayed('e2e-dmarc-quarantine', 300), /no relayed message/);
  });

  it('treats a DNS server that never answers as temperror and accepts, never as fail', async () => {
    const c = await openSession(bed.gw.gw.port, '198.51.100.9', 'client.example.net');
    const started = Date.now();
    assert.equal((await c.cmd('MAIL FROM:<bounce@dead.test>')).code, 250);
    assert.ok(Date.now() - started < 5000);
    assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
    assert.equal((await c.data(message({ from: 'x@dead.test', subject: 'e2e-temperror' }))).code, 250);
    await c.quit();
    const relayed = await bed.gw.relayed('e2e-temperror');
    assert.match(relayed, /^Received-SPF: temperror /m);
  });

  it('does not check clients in relay.networks', async () => {
    assert.equal((await bed.send('bounce@sender.test', message({ from: 'alice@sender.test', subject: 'e2e-relaynet' }), { ip: '192.0.2.50', helo: 'laptop.internal' })).code, 250);
    const relayed = await bed.gw.relayed('e2e-relaynet');
    assert.doesNotMatch(relayed, /^Received-SPF:/m);
    assert.doesNotMatch(relayed, /^Authentication-Results:/m);
  });
});
