// allow_needs_auth: an allow entry counts only for an address whose domain the spf and dmarc plugins authenticated,
// checked end to end over the loopback DNS server with DKIM-signed messages.
import assert from 'node:assert/strict';
import { makeKey, message, sign } from '../dmarc/mail-fixtures.ts';
import { startAuthGateway, type AuthGateway } from '../spf/e2e-setup.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { openStore } from '../../../core/store/index.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { messageLine, seed, send, symbols } from './session.ts';

const EMBEDDED = { backend: 'embedded' as const, redis: { url: '', prefix: '' }, purge_interval: 0 };

describe('user-lists: allow entries need authentication', function () {
  this.timeout(30_000);
  const key = makeKey();
  let gw: AuthGateway;
  let store: StateStore;
  const BOB = 'bob@receiver.test';

  before(async () => {
    gw = await startAuthGateway({
      'friends.test': {
        '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
        'sel._domainkey': { TXT: [key.dnsRecord] },
        '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
      },
      'nodmarc.test': {
        '@': { TXT: ['v=spf1 -all'] },
        'sel._domainkey': { TXT: [key.dnsRecord] },
      },
      'anyone.test': { '@': { TXT: ['v=spf1 +all'] } },
    }, [{ name: 'spf' }, { name: 'dmarc' }, { name: 'user-lists' }]);
    store = await openStore(EMBEDDED, gw.gw.dataDir);
    await seed(store, 'allow', BOB, '@friends.test', '@nodmarc.test', '@anyone.test');
  });
  after(async () => { await store?.close(); await gw?.stop(); });

  const syms = (data: Parameters<typeof messageLine>[1]) => symbols(messageLine(gw.gw.logs, data));

  it('counts an envelope sender whose domain SPF passed', async () => {
    const r = await send(gw.gw.port, { ip: '203.0.113.5', from: 'ann@friends.test', author: 'someone@elsewhere.test', to: [BOB] });
    assert.equal(r.data?.code, 250, r.data?.text);
    const s = syms(r.data);
    assert.ok(s.includes('USER_ALLOWLIST(-20)'), String(s));
    const line = gw.gw.logs.find((l) => l.msg === 'sender on the recipient\'s allow list' && l.auth === 'SPF pass');
    assert.equal(line?.entry, '@friends.test');
  });

  it('does not count a forged envelope sender (SPF fail), and says so with a score-0 finding', async () => {
    const r = await send(gw.gw.port, { ip: '198.51.100.9', from: 'ann@friends.test', author: 'someone@elsewhere.test', to: [BOB] });
    assert.equal(r.data?.code, 250, r.data?.text);
    const s = syms(r.data);
    assert.ok(!s.includes('USER_ALLOWLIST(-20)'), String(s));
    assert.ok(s.includes('USER_ALLOWLIST_UNAUTHENTICATED(0)'), String(s));
  });

  it('does not count an SPF pass any host gets (+all): anyone could forge that sender', async () => {
    const r = await send(gw.gw.port, { ip: '198.51.100.9', from: 'ann@anyone.test', author: 'someone@elsewhere.test', to: [BOB] });
    assert.equal(r.data?.code, 250, r.data?.text);
    const s = syms(r.data);
    assert.ok(!s.includes('USER_ALLOWLIST(-20)'), String(s));
    assert.ok(s.includes('USER_ALLOWLIST_UNAUTHENTICATED(0)'), String(s));
  });

  it('counts a From address whose domain passed DMARC through its DKIM signature', async () => {
    const raw = await sign(message({ from: 'Ann <ann@friends.test>', to: BOB, subject: 'dmarc-pass' }), 'friends.test', 'sel', key);
    const r = await send(gw.gw.port, { ip: '198.51.100.20', from: 'bounce@unrelated.test', to: [BOB], raw });
    assert.equal(r.data?.code, 250, r.data?.text);
    assert.ok(syms(r.data).includes('USER_ALLOWLIST(-20)'), String(syms(r.data)));
    assert.ok(gw.gw.logs.some((l) => l.msg === 'sender on the recipient\'s allow list' && l.auth === 'DMARC pass' && l.via === 'from'));
  });

  it('counts a From domain without a DMARC record when a DKIM signature of that domain verifies', async () => {
    const raw = await sign(message({ from: 'ned@nodmarc.test', to: BOB, subject: 'dkim-aligned' }), 'nodmarc.test', 'sel', key);
    const r = await send(gw.gw.port, { ip: '198.51.100.21', from: 'bounce@unrelated.test', to: [BOB], raw });
    assert.equal(r.data?.code, 250, r.data?.text);
    assert.ok(syms(r.data).includes('USER_ALLOWLIST(-20)'), String(syms(r.data)));
  });

  it('does not count an unsigned From address of the allowed domain', async () => {
    const raw = message({ from: 'ann@nodmarc.test', to: BOB, subject: 'unsigned' });
    const r = await send(gw.gw.port, { ip: '198.51.100.22', from: 'bounce@unrelated.test', to: [BOB], raw });
    assert.equal(r.data?.code, 250, r.data?.text);
    assert.ok(!syms(r.data).includes('USER_ALLOWLIST(-20)'));
    assert.ok(syms(r.data).includes('USER_ALLOWLIST_UNAUTHENTICATED(0)'));
  });
});

describe('user-lists: allow_needs_auth without the spf and dmarc plugins', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'user-lists' }] } });
    const store = await openStore(EMBEDDED, gw.dataDir);
    await seed(store, 'allow', 'bob@example.com', '@friends.test');
    await store.close();
  });
  after(async () => { await gw?.stop(); });

  it('says at start that spf and dmarc are missing, counts no allow entry, and does not warn again per message', async () => {
    const atStart = gw.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('allow_needs_auth: no ')).map((l) => String(l.msg).split(',')[0]);
    assert.deepEqual(atStart, ['allow_needs_auth: no spf plugin in the chain', 'allow_needs_auth: no dmarc plugin before user-lists in the chain']);
    for (let i = 0; i < 2; i++) {
      const r = await send(gw.port, { ip: '203.0.113.40', from: 'ann@friends.test', to: ['bob@example.com'] });
      assert.equal(r.data?.code, 250);
      assert.ok(!symbols(messageLine(gw.logs, r.data)).includes('USER_ALLOWLIST(-20)'));
    }
    assert.equal(gw.logs.filter((l) => l.level === 'warn' && String(l.msg).includes('recorded no result')).length, 0);
  });

  it('says at start when dmarc comes after user-lists, where its results come too late', async () => {
    const late = await startRelayingGateway({ config: { plugins: [{ name: 'spf' }, { name: 'user-lists' }, { name: 'dmarc' }] } });
    try {
      const warned = late.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('allow_needs_auth:')).map((l) => String(l.msg).split(',')[0]);
      assert.deepEqual(warned, ['allow_needs_auth: dmarc comes after user-lists in the chain']);
    } finally { await late.stop(); }
  });
});
