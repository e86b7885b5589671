// Names a plugin's config gives to what it adds to a message are checked with the config, as ctx.addFinding and
// ctx.addHeader check them per message: a blocklist symbol with a hyphen, or a clamav header the core writes itself,
// is refused by check-config, start and reload, rather than deferring (451) every message it is used on.
import assert from 'node:assert/strict';
import { validate } from '../../core/config/schema.ts';
import { configSchema as rblSchema } from '../../plugins/rbl/config.ts';
import { configSchema as urlblSchema } from '../../plugins/urlbl/config.ts';
import { configSchema as clamavSchema } from '../../plugins/clamav/config.ts';

const problems = (schema: Parameters<typeof validate>[0], input: Record<string, unknown>) =>
  validate(schema, input, 'plugins[0]').issues.map((i) => `${i.path}: ${i.message}`);

describe('symbols and header names in plugin configs', () => {
  it('rbl: a zone\'s or an answer\'s symbol must be letters, digits and _', () => {
    assert.deepEqual(problems(rblSchema, { zones: [{ zone: 'zen.example.org', symbol: 'RBL_ZEN' }] }), []);
    const bad = problems(rblSchema, { zones: [{ zone: 'zen.example.org', symbol: 'SPAMHAUS-ZEN', codes: { '127.0.0.4': { symbol: 'XBL CBL' } } }], allow_zones: [{ zone: 'list.example.org', symbol: 'OK(1)' }] });
    assert.equal(bad.length, 3, bad.join('\n'));
    assert.match(bad.join('\n'), /plugins\[0\]\.zones\[0\]\.symbol: .*letters, digits and _/);
    assert.match(bad.join('\n'), /plugins\[0\]\.zones\[0\]\.codes\.127\.0\.0\.4\.symbol|codes.*symbol/);
    assert.match(bad.join('\n'), /allow_zones\[0\]\.symbol/);
  });

  it('urlbl: the same', () => {
    assert.deepEqual(problems(urlblSchema, { zones: [{ zone: 'dbl.example.org', symbol: 'URIBL_DBL' }] }), []);
    assert.match(problems(urlblSchema, { zones: [{ zone: 'dbl.example.org', symbol: 'dbl.example' }] }).join('\n'), /zones\[0\]\.symbol: .*letters, digits and _/);
  });

  it('clamav: header may not be one of the fields the core writes (the verdict\'s), but may be its own X-Mailmoat-Virus', () => {
    assert.deepEqual(problems(clamavSchema, { socket: '/run/clamd.sock' }), []);
    assert.match(problems(clamavSchema, { socket: '/run/clamd.sock', header: 'X-Mailmoat-Spam' }).join('\n'), /plugins\[0\]\.header: X-Mailmoat-Spam is written by the gateway/);
  });
});
