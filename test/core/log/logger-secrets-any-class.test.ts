// The logger masks secrets whatever holds them: class instances (a client library's options, a Haraka plugin's
// config), objects of another realm, loops and deep graphs; what it cannot walk it writes as a placeholder, never in clear.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { JsonLogger } from '../../../core/log/logger.ts';

function logged(fields: Record<string, unknown>, msg = 'm'): { line: string; rec: Record<string, unknown> } {
  const lines: string[] = [];
  new JsonLogger({ format: 'json', sink: { write: (l) => { lines.push(l); } } }).info(msg, fields);
  return { line: lines[0], rec: JSON.parse(lines[0]) };
}

describe('logger: secrets inside objects of any class', () => {
  it('masks a password in a class instance, nested in another, and in an object of a vm realm', () => {
    class RedisOptions { host = '127.0.0.1'; password = 'S3cretPW99'; }
    class Hook { cfg = { redis: new RedisOptions() }; }
    const foreign = vm.runInNewContext('({ server: { password: "S3cretPW99", port: 6379 } })');
    const { line, rec } = logged({ current_hook: [new Hook()], redisCfg: foreign, own: new RedisOptions() });
    assert.doesNotMatch(line, /S3cretPW99/);
    assert.deepEqual(rec.own, { host: '127.0.0.1', password: '[redacted]' });
    assert.deepEqual(rec.redisCfg, { server: { password: '[redacted]', port: 6379 } });
  });

  it('masks what a toJSON gives, and writes a throwing getter as unreadable', () => {
    const withJson = { toJSON: () => ({ token: 'tok-123', n: 1 }) };
    const hostile = { get boom() { throw new Error('no'); } };
    const { line, rec } = logged({ withJson, hostile });
    assert.doesNotMatch(line, /tok-123/);
    assert.deepEqual(rec.withJson, { token: '[redacted]', n: 1 });
    assert.equal(rec.hostile, '[unreadable]');
  });

  it('cuts a loop, and replaces what lies too deep or too far instead of writing it unmasked', () => {
    const loop: Record<string, unknown> = { name: 'a' };
    loop.self = loop;
    let deep: Record<string, unknown> = { password: 'deep-secret' };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const wide = Array.from({ length: 5000 }, (_, i) => ({ i, secret: `s-${i}` }));
    const { line, rec } = logged({ loop, deep, wide });
    assert.deepEqual(rec.loop, { name: 'a', self: '[circular]' });
    assert.doesNotMatch(line, /deep-secret/);
    assert.match(line, /\[too deep to log\]/);
    assert.doesNotMatch(line, /s-4999/);
    assert.match(line, /\[too much to log\]/);
  });

  it('leaves a line of ordinary fields as it was (same numbers, strings, dates, bytes)', () => {
    const at = new Date(0);
    const { rec } = logged({ count: 3, list: ['a', 'b'], at, bytes: Buffer.from('hi'), nested: { a: { b: 1 } } });
    assert.deepEqual(rec, { ...rec, count: 3, list: ['a', 'b'], at: at.toISOString(), bytes: { type: 'Buffer', data: [104, 105] }, nested: { a: { b: 1 } } });
  });
});
