// The exemption rules, on plain values: who is never greylisted, and why.
import assert from 'node:assert/strict';
import type { Finding, SessionView } from '../../../core/index.ts';
import { configSchema } from '../../../plugins/greylist/config.ts';
import { validate } from '../../../core/config/schema.ts';
import { compileExemptions } from '../../../plugins/greylist/exemptions.ts';

function session(over: Partial<SessionView> = {}): SessionView {
  return {
    id: 's1', remote: { ip: '203.0.113.5', port: 1025 }, local: { ip: '127.0.0.1', port: 25 }, listener: 'smtp',
    tls: false, relayNetwork: false, trusted: false, allowlisted: false, ...over,
  };
}
const finding = (symbol: string): Finding => ({ symbol, score: 0, plugin: 'x' });
function exempt(options: Record<string, unknown>) {
  const { value, issues } = validate(configSchema, options);
  assert.deepEqual(issues, []);
  return compileExemptions(value);
}
const base = { senderDomain: 'example.com', rcpt: 'user@example.net', rcptDomain: 'example.net', findings: [] as Finding[] };

describe('greylist exemptions', () => {
  it('nothing is exempt by default for an unknown client', () => {
    assert.equal(exempt({})({ session: session(), ...base }), undefined);
  });
  it('authenticated users and relay networks, unless skip_trusted is off', () => {
    assert.equal(exempt({})({ session: session({ trusted: true, user: 'u' }), ...base }), 'authenticated');
    assert.equal(exempt({})({ session: session({ trusted: true, relayNetwork: true }), ...base }), 'relay network');
    assert.equal(exempt({ skip_trusted: false })({ session: session({ trusted: true, user: 'u' }), ...base }), undefined);
  });
  it('listed IPs and CIDRs, IPv4-mapped included', () => {
    const e = exempt({ skip_ips: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7'] });
    assert.equal(e({ session: session(), ...base }), 'skip_ips');
    assert.equal(e({ session: session({ remote: { ip: '::ffff:198.51.100.7', port: 1 } }), ...base }), 'skip_ips');
    assert.equal(e({ session: session({ remote: { ip: '2001:db8:5::1', port: 1 } }), ...base }), 'skip_ips');
    assert.equal(e({ session: session({ remote: { ip: '198.51.100.8', port: 1 } }), ...base }), undefined);
  });
  it('refuses an entry that is not an IP or CIDR, naming it in the config check', () => {
    const { issues } = validate(configSchema, { skip_ips: ['192.0.2.0/24', 'mail.example.com', '192.0.2.0/33', '999.1.1.1'] });
    assert.deepEqual(issues.map((i) => i.path), ['skip_ips[1]', 'skip_ips[2]', 'skip_ips[3]']);
    assert.throws(() => exempt({ skip_ips: ['192.0.2.0/33'] }), /not an IP address or CIDR/);
  });
  it('recipient and sender domains, exact or subdomains with a leading dot', () => {
    const e = exempt({ skip_recipient_domains: ['example.net'], skip_sender_domains: ['.lists.example'] });
    assert.equal(e({ session: session(), ...base }), 'recipient domain');
    assert.equal(e({ session: session(), ...base, rcptDomain: 'sub.example.net' }), undefined);
    assert.equal(e({ session: session(), ...base, rcptDomain: 'other.example', senderDomain: 'a.lists.example' }), 'sender domain');
    assert.equal(e({ session: session(), ...base, rcptDomain: 'other.example', senderDomain: 'lists.example' }), undefined);
  });
  it('an SPF pass recorded by the spf plugin with skip_spf_pass on, not for the null sender', () => {
    const findings = [finding('SPF_PASS')];
    const on = exempt({ skip_spf_pass: true });
    assert.equal(on({ session: session(), ...base, findings }), 'SPF pass (SPF_PASS)');
    assert.equal(on({ session: session(), ...base, senderDomain: '', findings }), undefined);
    assert.equal(on({ session: session(), ...base, findings: [finding('SPF_SOFTFAIL')] }), undefined);
  });
  it('no SPF exemption by default, as in Postgrey and Rspamd: a spammer\'s own domain passes its own SPF', () => {
    assert.equal(exempt({})({ session: session(), ...base, findings: [finding('SPF_PASS')] }), undefined);
  });
  it('never an SPF pass the spf plugin marked broad (+all, or a range wider than /8)', () => {
    const broad: Finding = { symbol: 'SPF_PASS', score: 0, plugin: 'spf', detail: 'pass identity=mailfrom domain=spam.example ip=203.0.113.5 mechanism=+all broad=yes' };
    const narrow: Finding = { symbol: 'SPF_PASS', score: -1, plugin: 'spf', detail: 'pass identity=mailfrom domain=example.com ip=203.0.113.5 mechanism=ip4:203.0.113.0/24' };
    const on = exempt({ skip_spf_pass: true });
    assert.equal(on({ session: session(), ...base, findings: [broad] }), undefined);
    assert.equal(on({ session: session(), ...base, findings: [narrow] }), 'SPF pass (SPF_PASS)');
  });
  it('a DNS allowlist finding, by prefix or exact symbol', () => {
    assert.equal(exempt({})({ session: session(), ...base, findings: [finding('RBL_DNSWL_HI')] }), 'DNS allowlist (RBL_DNSWL_HI)');
    assert.equal(exempt({ allowlist_symbols: ['MY_WL'] })({ session: session(), ...base, findings: [finding('RBL_DNSWL_HI')] }), undefined);
    assert.equal(exempt({ allowlist_symbols: ['MY_WL'] })({ session: session(), ...base, findings: [finding('MY_WL')] }), 'DNS allowlist (MY_WL)');
  });
  it('the core access allowlist', () => {
    assert.equal(exempt({})({ session: session({ allowlisted: true }), ...base }), 'access allowlist');
  });
});
