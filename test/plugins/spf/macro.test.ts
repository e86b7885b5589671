// Unit tests of SPF macro expansion: the kept end of a long expansion, built without building the rest.
import assert from 'node:assert/strict';
import { expandMacros, parseMacroString, type MacroValues } from '../../../plugins/spf/lib/macro.ts';

function values(over: Partial<MacroValues> = {}): MacroValues {
  return {
    sender: 'strong-bad@email.example.com', local: 'strong-bad', senderDomain: 'email.example.com', domain: 'email.example.com',
    ip: '192.0.2.3', ipText: '192.0.2.3', version: 'in-addr', helo: 'mx.example.org', receiver: 'mx.us.test',
    validatedName: async () => 'mx.example.org', ...over,
  };
}

const expand = (spec: string, v: MacroValues, max: number, side: 'start' | 'end') => expandMacros(parseMacroString(spec, true)!, v, max, side);

describe('spf macro expansion', () => {
  it('expands the RFC 7208 examples in full when they fit', async () => {
    const v = values();
    assert.equal(await expand('%{ir}.%{v}._spf.%{d2}', v, 255, 'end'), '3.2.0.192.in-addr._spf.example.com');
    assert.equal(await expand('%{lr-}.lp._spf.%{d2}', v, 255, 'end'), 'bad.strong.lp._spf.example.com');
    assert.equal(await expand('%{l1r-}.lp._spf.%{d2}', v, 255, 'start'), 'strong.lp._spf.example.com');
    assert.equal(await expand('%{d3r}', v, 255, 'end'), 'com.example.email');
    assert.equal(await expand('%{S}', values({ sender: 'a b@x.example' }), 255, 'end'), 'a%20b%40x.example');
  });

  it('keeps exactly the first or last characters of the full expansion, escapes included', async () => {
    const v = values({ local: 'é😀-x.y', helo: 'a.b-c.😀.d' });
    const spec = '%{L}.%{hr-}x%{H2}.%{lr}%%%_';
    const full = await expand(spec, v, 1e6, 'end');
    assert.equal(await expand(spec, v, 1e6, 'start'), full);
    for (let max = 1; max < full.length; max++) {
      assert.equal(await expand(spec, v, max, 'end'), full.slice(-max), `last ${max}`);
      assert.equal(await expand(spec, v, max, 'start'), full.slice(0, max), `first ${max}`);
    }
  });

  it('keeps the last 255 characters of 5000 escaped macros over a 16 KB HELO without escaping them all', async function () {
    this.timeout(10_000);
    // Expanding all of it took about 4 ms per macro: 20 s and 80 MB here.
    const helo = `${'a'.repeat(60)}.`.repeat(262);
    const out = await expand('%{H}'.repeat(5000), values({ helo }), 255, 'end');
    assert.equal(out, helo.repeat(2).slice(-255));
  });

  it('splits a long value once however many macros select from it', async function () {
    this.timeout(10_000);
    // %{h1} of a HELO ending in a dot is empty, so every one of the 40,000 macros is expanded; the old code split
    // the 32 KB HELO for each of them.
    const helo = 'a.'.repeat(16_000);
    const out = await expand(`${'%{h1}'.repeat(40_000)}x.%{h2}`, values({ helo }), 255, 'end');
    assert.equal(out, 'x.a.');
  });

  it('keeps the first 512 characters of 5000 escaped macros in explanation text', async function () {
    this.timeout(10_000);
    const helo = `${'b'.repeat(60)}.`.repeat(262);
    const out = await expand(`Not ${'%{H}'.repeat(5000)}`, values({ helo }), 512, 'start');
    assert.equal(out, `Not ${helo}`.slice(0, 512));
  });
});
