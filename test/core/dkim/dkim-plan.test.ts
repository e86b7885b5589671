// The signing decision as pure logic (core/dkim/plan.ts): the header From's domain against the envelope sender's,
// with subdomains, dkim.allow_header_from_mismatch and the null sender; the signer's header reading whatever the
// chunking (core/dkim/signature.ts); and `moat dkim keygen` naming an IDN domain as DNS does.
import assert from 'node:assert/strict';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import type { GatewayConfig } from '../../../core/config/gateway-schema.ts';
import { dkimPlan, type DkimSender } from '../../../core/dkim/plan.ts';
import { dkimSignature } from '../../../core/dkim/signature.ts';
import { Headers, parseHeaderBlock } from '../../../core/message/header-block.ts';
import { moat } from '../../scripts/moat-cli.ts';
import { keyDir } from './dkim-setup.ts';

/** The dkim block with its defaults, signing `selectors`' domains (the plan reads no key file). */
const dkimConfig = (selectors: Record<string, string>): GatewayConfig['dkim'] => ({
  domains: Object.fromEntries(Object.entries(selectors).map(([d, selector]) => [d, { selector, key_file: `/keys/${d}` }])),
  sign_for: ['authenticated', 'relay_networks'], subdomains: false, allow_header_from_mismatch: false, headers: ['From'], oversign: ['From'],
});
const header = (from: string) => ({ headers: new Headers(parseHeaderBlock(`From: ${from}\r\nSubject: x`)), added: [], remove: new Set<string>() });
const user = (mailFrom: string, owned?: string[]): DkimSender => ({
  user: 'alice', relayNetwork: false, mailFrom,
  loginMismatch: (a) => (!owned || owned.includes(a) ? undefined : 'not owned'),
});

describe('DKIM plan: the header From against the envelope sender and the login', () => {
  const cfg = dkimConfig({ 'example.com': 's1', 'b.example': 's2', 'bücher.example': 's3' });

  it('signs a From at the envelope sender\'s domain, in any case and IDN spelling', () => {
    assert.deepEqual(dkimPlan(cfg, user('alice@EXAMPLE.com'), header('alice@example.com')), { domain: 'example.com', selector: 's1' });
    assert.deepEqual(dkimPlan(cfg, user('alice@xn--bcher-kva.example'), header('alice@bücher.example')), { domain: 'xn--bcher-kva.example', selector: 's3' });
  });

  it('refuses a From at another signing domain, unless dkim.allow_header_from_mismatch', () => {
    assert.match((dkimPlan(cfg, user('alice@example.com'), header('ceo@b.example')) as { unsigned: string }).unsigned, /differs from the envelope sender's/);
    assert.deepEqual(dkimPlan({ ...cfg, allow_header_from_mismatch: true }, user('alice@example.com'), header('ceo@b.example')), { domain: 'b.example', selector: 's2' });
  });

  it('with subdomains, takes an envelope and a From under one signing domain as matching, and no other', () => {
    const sub = { ...cfg, subdomains: true };
    assert.deepEqual(dkimPlan(sub, user('bounce@bounces.example.com'), header('news@news.example.com')), { domain: 'example.com', selector: 's1' });
    assert.deepEqual(dkimPlan(sub, user('bounce@example.com'), header('news@news.example.com')), { domain: 'example.com', selector: 's1' });
    assert.ok('unsigned' in dkimPlan(sub, user('bounce@b.example'), header('news@news.example.com'))!);
    assert.ok('unsigned' in dkimPlan(cfg, user('bounce@example.com'), header('news@news.example.com'))!, 'without subdomains the From is at no signing domain');
  });

  it('without subdomains, takes a bounce or VERP envelope under the signing domain as matching (Rspamd compares organisational domains)', () => {
    assert.deepEqual(dkimPlan(cfg, user('bounce+x=y@bounces.example.com'), header('news@example.com')), { domain: 'example.com', selector: 's1' });
    assert.ok('unsigned' in dkimPlan(cfg, user('bounce@bounces.other.example'), header('news@example.com'))!);
    assert.ok('unsigned' in dkimPlan(cfg, user('bounce@notexample.com'), header('news@example.com'))!, 'a suffix that is not a subdomain');
  });

  it('signs the null sender\'s mail (bounces, auto-replies), still only as the login may send', () => {
    assert.deepEqual(dkimPlan(cfg, user(''), header('alice@example.com')), { domain: 'example.com', selector: 's1' });
    assert.match((dkimPlan(cfg, user('', ['alice@example.com']), header('boss@example.com')) as { unsigned: string }).unsigned, /auth\.sender_logins/);
  });

  it('says nothing for a client dkim.sign_for does not name, nor when no domain signs', () => {
    assert.equal(dkimPlan(cfg, { relayNetwork: false, mailFrom: 'a@example.com', loginMismatch: () => undefined }, header('a@example.com')), undefined);
    assert.equal(dkimPlan({ ...cfg, domains: {} }, user('a@example.com'), header('a@example.com')), undefined);
  });
});

describe('DKIM signature: the header section however the message is chunked', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const req = { key: { type: 'ed25519' as const, key: privateKey, domain: 'example.com', selector: 's1' }, fields: ['From', 'Subject'], oversign: [], signTime: new Date(0) };
  const chunked = (raw: Buffer, size: number) => (async function* () { for (let i = 0; i < raw.length; i += size) yield raw.subarray(i, i + size); })();

  for (const [what, raw] of [
    ['with a body', 'From: a@example.com\r\nSubject: chunks\r\n\r\nline one\r\n\r\nline two\r\n'],
    ['of header fields only', 'From: a@example.com\r\nSubject: chunks\r\n'],
  ] as const) {
    it(`a message ${what} gives the same signature whole and in chunks of 1 to 7 bytes (the empty line split anywhere)`, async () => {
      const bytes = Buffer.from(raw);
      const whole = await dkimSignature(chunked(bytes, bytes.length), req);
      for (let size = 1; size <= 7; size++) assert.deepEqual(await dkimSignature(chunked(bytes, size), req), whole, `chunks of ${size}`);
      assert.equal(whole.after, raw.includes('\r\n\r\n') ? '' : '\r\n', 'only a message without an empty line gets one after it');
    });
  }
});

describe('moat dkim keygen: an IDN domain', function () {
  this.timeout(30_000);
  it('prints the zone line under the punycode name that d= and doctor use', async () => {
    const keys = keyDir();
    try {
      const r = await moat(['dkim', 'keygen', 'Bücher.example', 's1', '--type', 'ed25519', '--out', path.join(keys.dir, 'k')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^s1\._domainkey\.xn--bcher-kva\.example\. IN TXT "v=DKIM1; k=ed25519; p=/);
    } finally {
      keys.remove();
    }
  });
});
