// Unit tests of the SPF evaluator's options beyond the conformance suites: limits, local policy, best guess.
import assert from 'node:assert/strict';
import { checkHost } from '../../../plugins/spf/lib/check-host.ts';
import { zoneResolver } from '../../../scripts/spf/zone-resolver.ts';

const resolver = zoneResolver({
  'example.test': [{ TXT: 'v=spf1 ip4:192.0.2.0/24 -all' }],
  'soft.test': [{ TXT: 'v=spf1 ip4:192.0.2.0/24 ~all' }],
  'chain.test': [{ TXT: 'v=spf1 include:a.chain.test include:b.chain.test include:c.chain.test -all' }],
  'a.chain.test': [{ TXT: 'v=spf1 a:h1.chain.test a:h2.chain.test' }],
  'b.chain.test': [{ TXT: 'v=spf1 a:h1.chain.test' }],
  'c.chain.test': [{ TXT: 'v=spf1 ip4:198.51.100.7' }],
  'h1.chain.test': [{ A: '203.0.113.1' }],
  'h2.chain.test': [{ A: '203.0.113.2' }],
  'nospf.test': [{ A: '198.51.100.20' }, { MX: [10, 'mx.nospf.test'] }],
  'mx.nospf.test': [{ A: '198.51.100.30' }],
  'v6.test': [{ TXT: 'v=spf1 ip6:2001:db8:1::/48 -all' }],
  'dead.test': ['TIMEOUT'],
  'exp.test': [{ TXT: 'v=spf1 -all exp=why.exp.test' }],
  'why.exp.test': [{ TXT: '%{i} may not send for %{d} (see %{r})' }],
});

const q = (ip: string, domain: string) => ({ ip, domain, sender: `user@${domain}`, helo: 'client.example' });

describe('spf checkHost', () => {
  it('passes and fails by ip4 network, naming the deciding mechanism', async () => {
    const pass = await checkHost(q('192.0.2.55', 'example.test'), { resolver });
    assert.equal(pass.result, 'pass');
    assert.equal(pass.mechanism, 'ip4:192.0.2.0/24');
    const fail = await checkHost(q('198.51.100.1', 'example.test'), { resolver });
    assert.equal(fail.result, 'fail');
    assert.equal(fail.mechanism, '-all');
    assert.match(fail.explanation!, /example\.test does not designate 198\.51\.100\.1/);
  });

  it('checks IPv6 clients and treats IPv4-mapped addresses as IPv4', async () => {
    assert.equal((await checkHost(q('2001:db8:1:2::5', 'v6.test'), { resolver })).result, 'pass');
    assert.equal((await checkHost(q('2001:db8:2::5', 'v6.test'), { resolver })).result, 'fail');
    assert.equal((await checkHost(q('::ffff:192.0.2.9', 'example.test'), { resolver })).result, 'pass');
  });

  it('counts DNS-querying terms across includes and honours a lower max_lookups', async () => {
    const r = await checkHost(q('198.51.100.7', 'chain.test'), { resolver });
    assert.equal(r.result, 'pass');
    assert.equal(r.lookups, 6);
    const limited = await checkHost(q('198.51.100.7', 'chain.test'), { resolver, maxLookups: 5 });
    assert.equal(limited.result, 'permerror');
    assert.match(limited.problem!, /too many DNS lookups/);
  });

  it('answers temperror when the record lookup times out, never pass', async () => {
    const r = await checkHost(q('192.0.2.1', 'dead.test'), { resolver });
    assert.equal(r.result, 'temperror');
  });

  it('expands the exp= explanation with %{r} from the receiver option', async () => {
    const r = await checkHost(q('192.0.2.1', 'exp.test'), { resolver, receiver: 'mx.us.test' });
    assert.equal(r.result, 'fail');
    assert.equal(r.explanation, '192.0.2.1 may not send for exp.test (see mx.us.test)');
  });

  it('turns fail or softfail into the local policy result when one of its mechanisms matches', async () => {
    const opts = { resolver, localPolicy: 'ip4:203.0.113.0/24' };
    const forwarded = await checkHost(q('203.0.113.9', 'example.test'), opts);
    assert.equal(forwarded.result, 'pass');
    assert.equal(forwarded.localPolicy, true);
    const soft = await checkHost(q('203.0.113.9', 'soft.test'), opts);
    assert.equal(soft.result, 'pass');
    const stranger = await checkHost(q('198.51.100.99', 'example.test'), opts);
    assert.equal(stranger.result, 'fail');
    assert.equal(stranger.localPolicy, undefined);
  });

  it('evaluates the best-guess record for domains without SPF and keeps the result none', async () => {
    const opts = { resolver, bestGuess: 'v=spf1 a/24 mx/24 ?all' };
    const viaMx = await checkHost(q('198.51.100.31', 'nospf.test'), opts);
    assert.equal(viaMx.result, 'none');
    assert.equal(viaMx.guess, 'pass');
    const other = await checkHost(q('203.0.113.50', 'nospf.test'), opts);
    assert.equal(other.guess, 'neutral');
    const published = await checkHost(q('203.0.113.50', 'example.test'), opts);
    assert.equal(published.guess, undefined);
  });

  it('truncates a domain-spec of 4000 escaped macros over a 16 KB HELO to its last labels without expanding it all', async function () {
    this.timeout(10_000);
    // The old expansion escaped the whole HELO once per macro: about 17 s for this record.
    const label = 'a'.repeat(60);
    const helo = `${label}.`.repeat(262);
    // RFC 7208 7.3: drop labels from the left until at most 253 characters remain; four 60-character labels do.
    const kept = [label, label, label, label].join('.');
    const big = zoneResolver({
      'macros.test': [{ TXT: `v=spf1 exists:${'%{H}'.repeat(4000)} -all` }],
      [kept]: [{ A: '127.0.0.2' }],
    });
    const r = await checkHost({ ip: '192.0.2.1', domain: 'macros.test', sender: 'user@macros.test', helo }, { resolver: big });
    assert.equal(r.result, 'pass');
    assert.equal(r.mechanism?.startsWith('exists:%{H}'), true);
  });

  it('cuts an exp= explanation of 4000 escaped macros over a 16 KB HELO to 512 characters without expanding it all', async function () {
    this.timeout(10_000);
    const helo = `${'b'.repeat(60)}.`.repeat(262);
    const big = zoneResolver({
      'exp.test': [{ TXT: 'v=spf1 -all exp=why.exp.test' }],
      'why.exp.test': [{ TXT: `Refused: ${'%{H}'.repeat(4000)}` }],
    });
    const r = await checkHost({ ip: '192.0.2.1', domain: 'exp.test', sender: 'user@exp.test', helo }, { resolver: big });
    assert.equal(r.result, 'fail');
    assert.equal(r.explanation, `Refused: ${helo}`.slice(0, 512));
  });

  it('returns none for a HELO name that is not a domain', async () => {
    const r = await checkHost({ ip: '192.0.2.1', domain: '[192.0.2.1]', sender: 'postmaster@[192.0.2.1]', helo: '[192.0.2.1]' }, { resolver });
    assert.equal(r.result, 'none');
  });
});
