// A `codes` key no list can ever answer (`127.0.0.2/32`, `2`, `127.0.0.1`) is refused by the rbl and urlbl schemas, so
// check-config and the start name it instead of a mapped symbol, score or action that would silently never apply.
import assert from 'node:assert/strict';
import { validate } from '../../../core/config/schema.ts';
import rbl from '../../../plugins/rbl/index.ts';
import urlbl from '../../../plugins/urlbl/index.ts';

const NEVER = ['127.0.0.2/32', '2', '127.0.0.02', '127.0.0.1', '127.0.0.255', '10.0.0.2', ' 127.0.0.2'];

describe('rbl and urlbl answer codes', () => {
  it('takes answers a list gives', () => {
    const codes = { '127.0.0.2': { score: 6 }, '127.0.1.4': { action: 'reject' as const }, '127.0.0.64': {} };
    assert.deepEqual(validate(rbl.configSchema, { zones: [{ zone: 'bl.test', codes }], allow_zones: [{ zone: 'wl.test', codes: ['127.0.9.2'] }] }).issues, []);
    assert.deepEqual(validate(urlbl.configSchema, { zones: [{ zone: 'dbl.test', bitmask: true, codes }] }).issues, []);
  });

  for (const code of NEVER) {
    it(`names ${JSON.stringify(code)} by its key path in each place`, () => {
      const r = validate(rbl.configSchema, { zones: [{ zone: 'bl.test', codes: { [code]: { score: 6 } } }], allow_zones: [{ zone: 'wl.test', codes: ['127.0.9.2', code] }] }, 'plugins[0]');
      assert.deepEqual(r.issues.map((x) => x.path), [`plugins[0].zones[0].codes.${code}`, 'plugins[0].allow_zones[0].codes[1]']);
      for (const x of r.issues) assert.match(x.message, /is no answer a list gives, so it would never match/);
      const u = validate(urlbl.configSchema, { zones: [{ zone: 'dbl.test', codes: { [code]: { score: 6 } } }] }, 'plugins[1]');
      assert.deepEqual(u.issues.map((x) => x.path), [`plugins[1].zones[0].codes.${code}`]);
    });
  }
});
