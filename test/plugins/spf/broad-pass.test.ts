// A pass from a term that matches (nearly) any client, `+all` above all: marked `broad`, in the finding's detail too,
// and scored 0 instead of SPF_PASS's -1; a pass from the sender's own hosts is not.
import assert from 'node:assert/strict';
import { checkHost } from '../../../plugins/spf/lib/check-host.ts';
import plugin from '../../../plugins/spf/index.ts';
import { validate } from '../../../core/config/schema.ts';
import { zoneResolver } from '../../../scripts/spf/zone-resolver.ts';
import { fakeContext } from './fake-context.ts';
import { isBroadSpfPass } from '../../../plugins/spf/broad.ts';

const resolver = zoneResolver({
  'plusall.test': [{ TXT: 'v=spf1 +all' }],
  'bareall.test': [{ TXT: 'v=spf1 a mx all' }],
  'included.test': [{ TXT: 'v=spf1 include:plusall.test -all' }],
  'redirected.test': [{ TXT: 'v=spf1 redirect=plusall.test' }],
  'wide4.test': [{ TXT: 'v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all' }],
  'wide6.test': [{ TXT: 'v=spf1 ip6:2000::/3 -all' }],
  'slash8.test': [{ TXT: 'v=spf1 ip4:203.0.0.0/8 -all' }],
  'own.test': [{ TXT: 'v=spf1 ip4:203.0.113.0/24 include:plusall.test -all' }],
  'neutral.test': [{ TXT: 'v=spf1 ?all' }],
});

const q = (ip: string, domain: string) => ({ ip, domain, sender: `user@${domain}`, helo: 'client.example' });

describe('spf broad pass', () => {
  it('marks a pass from +all, a bare all, an include or redirect of one, and ranges wider than /8 or /16', async () => {
    for (const d of ['plusall.test', 'bareall.test', 'included.test', 'redirected.test', 'wide4.test']) {
      const r = await checkHost(q('198.51.100.9', d), { resolver });
      assert.equal(r.result, 'pass', d);
      assert.equal(r.broad, true, d);
    }
    const v6 = await checkHost(q('2001:db8::9', 'wide6.test'), { resolver });
    assert.equal(v6.result, 'pass');
    assert.equal(v6.broad, true);
  });

  it('does not mark a pass from the sender\'s own network, a /8, or a result other than pass', async () => {
    const own = await checkHost(q('203.0.113.5', 'own.test'), { resolver });
    assert.equal(own.result, 'pass');
    assert.equal(own.broad, undefined, 'the ip4 term matched before the include of +all');
    const viaInclude = await checkHost(q('198.51.100.9', 'own.test'), { resolver });
    assert.equal(viaInclude.broad, true, 'another client passes only through the +all it includes');
    assert.equal((await checkHost(q('203.0.113.5', 'slash8.test'), { resolver })).broad, undefined);
    const neutral = await checkHost(q('198.51.100.9', 'neutral.test'), { resolver });
    assert.equal(neutral.result, 'neutral');
    assert.equal(neutral.broad, undefined);
  });

  it('records SPF_PASS with score 0 and broad=yes in the detail; a real pass keeps -1 and its old detail', async () => {
    const { value } = validate(plugin.configSchema, { check_helo: false });
    const inst = await plugin.create(value, undefined as never);
    const run = async (ip: string, from: string) => {
      const ctx = fakeContext({ hook: 'mailFrom', dns: resolver, ip, helo: 'client.example', mailFrom: from, plugin: 'spf' });
      await inst.hooks.mailFrom!(ctx);
      return ctx.added;
    };
    const [broad] = await run('198.51.100.9', 'x@plusall.test');
    assert.equal(broad.symbol, 'SPF_PASS');
    assert.equal(broad.score, 0);
    assert.equal(broad.detail, 'pass identity=mailfrom domain=plusall.test ip=198.51.100.9 mechanism=+all broad=yes');
    const [real] = await run('203.0.113.5', 'x@own.test');
    assert.equal(real.score, -1);
    assert.equal(real.detail, 'pass identity=mailfrom domain=own.test ip=203.0.113.5 mechanism=ip4:203.0.113.0/24');
    // What the greylist and user-lists plugins read back is what this plugin wrote.
    assert.equal(isBroadSpfPass(broad), true);
    assert.equal(isBroadSpfPass(real), false);
  });

  it('isBroadSpfPass reads the mark as a word of the detail, wherever it stands, and nothing like it', () => {
    const pass = (detail?: string) => isBroadSpfPass({ symbol: 'SPF_PASS', score: 0, plugin: 'spf', detail });
    assert.equal(pass('pass identity=helo domain=a.test ip=192.0.2.1 mechanism=all broad=yes guess=pass'), true);
    assert.equal(pass('pass identity=mailfrom domain=a.test ip=192.0.2.1 mechanism=+all broad=yes'), true);
    for (const detail of [undefined, '', 'pass identity=mailfrom domain=a.test ip=192.0.2.1 mechanism=+all broad=yesterday', 'pass identity=mailfrom domain=a.test ip=192.0.2.1 xbroad=yes']) {
      assert.equal(pass(detail), false, String(detail));
    }
  });
});
