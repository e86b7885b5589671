// How Haraka's next(code, msg) becomes Mailmoat outcomes: codes per hook, DSN, lines, deny override, timeout, throws.
import assert from 'node:assert/strict';
import path from 'node:path';
import harakaPlugin from '../../../plugins/haraka/index.ts';
import type { HookHandlers, PluginInstance } from '../../../core/index.ts';
import { DirectConversation } from './direct-harness.ts';
import { FIXTURE } from './setup.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

describe('haraka shim: next() adapter', function () {
  this.timeout(10_000);
  let instance: PluginInstance;
  let hooks: HookHandlers;
  before(async () => {
    const cfg = harakaPlugin.configSchema.parse({ dir: path.join(FIXTURE, 'units') }, '', []);
    instance = await harakaPlugin.create(cfg, { log: silent, services: undefined as never, projectDir: process.cwd(), configDir: process.cwd() });
    hooks = instance.hooks;
  });
  after(async () => { await instance?.close?.(); });

  async function mail(user: string) {
    const c = new DirectConversation(hooks, '93.184.216.1', '127.0.0.1:1');
    c.s.remote.hostname = 'client.example';
    await c.connect();
    return c.mail(`${user}@example.org`);
  }

  it('maps DENY and DENYSOFT on mail to 550 and 450 with Haraka\'s default text', async () => {
    assert.deepEqual(await mail('soft'), { action: 'tempfail', text: 'sender <soft@example.org> denied', code: 450 });
  });

  it('takes code, enhanced code and text from a DSN, even over DENYSOFT', async () => {
    assert.deepEqual(await mail('dsn'), { action: 'reject', text: 'dsn text', code: 550, enhanced: '5.7.23' });
  });

  it('keeps multi-line messages as lines and closes on DENYDISCONNECT', async () => {
    assert.deepEqual((await mail('multi'))?.text, ['line one', 'line two']);
    assert.deepEqual(await mail('bye'), { action: 'disconnect', text: 'go away', code: 550 });
  });

  it('lets a deny hook answering OK cancel the rejection', async () => {
    assert.equal(await mail('excused'), undefined);
  });

  it('takes the first of two next() calls', async () => {
    assert.equal((await mail('twice'))?.text, 'first answer');
  });

  it('treats a synchronous throw as CONT', async () => {
    assert.equal(await mail('throws'), undefined);
  });

  it('answers DENYSOFT when a plugin misses its config/<name>.timeout, and ignores its late answer', async () => {
    const t0 = Date.now();
    const o = await mail('slow');
    assert.equal(o?.code, 450);
    assert.equal(o?.text, 'plugin timeout');
    assert.ok(Date.now() - t0 >= 280 && Date.now() - t0 < 2000);
    const late = await mail('late');
    assert.equal(late?.text, 'plugin timeout');
    await new Promise((r) => setTimeout(r, 400)); // the late next() must not throw or answer twice
  });

  it('accepts a recipient on OK and leaves CONT to Mailmoat\'s relay rules', async () => {
    const c = new DirectConversation(hooks, '93.184.216.1', '127.0.0.1:1');
    c.s.remote.hostname = 'client.example';
    await c.connect();
    assert.equal(await c.mail('ok@example.org'), undefined);
    assert.equal((await c.rcpt('a@ours.test'))?.action, 'accept');
    assert.equal(await c.rcpt('a@elsewhere.test'), undefined);
  });
});
