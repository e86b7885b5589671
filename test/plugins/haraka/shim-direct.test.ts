// The shim's hooks driven directly (no SMTP front door) with the real plugin chain, DNS and Redis.
import assert from 'node:assert/strict';
import harakaPlugin from '../../../plugins/haraka/index.ts';
import type { HookHandlers, PluginInstance } from '../../../core/index.ts';
import { DirectConversation } from './direct-harness.ts';
import { startWorld, IP, message, type ShimWorld } from './setup.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

describe('haraka shim hooks, driven directly', function () {
  this.timeout(20_000);
  let world: ShimWorld;
  let instance: PluginInstance;
  let hooks: HookHandlers;

  before(async () => {
    world = await startWorld();
    const cfg = harakaPlugin.configSchema.parse({ dir: world.dir, dns_servers: [world.dns.address] }, '', []);
    instance = await harakaPlugin.create(cfg, { log: silent, services: undefined as never, projectDir: process.cwd(), configDir: process.cwd() });
    hooks = instance.hooks;
  });
  after(async () => {
    await instance?.close?.();
    await world?.stop();
  });

  it('passes a clean message and adds the plugins\' headers', async () => {
    const c = new DirectConversation(hooks, IP.clean, world.dns.address);
    assert.equal(await c.connect(), undefined);
    assert.equal(await c.helo('mail.example.org'), undefined);
    assert.equal(await c.mail('alice@example.org'), undefined);
    const r = await c.rcpt('bob@example.test');
    assert.equal(r?.action, 'accept');
    assert.equal(await c.dataStart(), undefined);
    assert.equal(await c.data(message()), undefined);
    const names = c.tx.added.map(([n]) => n);
    assert.ok(names.includes('Received-SPF'), names.join(','));
    const marker = c.tx.added.find(([n]) => n === 'X-Haraka-Test-Marker');
    assert.equal(marker?.[1], 'undefined spf-header-seen bob@example.test');
    assert.ok(c.tx.findings.some((f) => f.symbol === 'HARAKA_KARMA'), JSON.stringify(c.tx.findings));
    await c.afterVerdict('accept');
    await c.disconnect();
  });

  it('refuses a listed IP at connect and keeps refusing', async () => {
    const c = new DirectConversation(hooks, IP.listed, world.dns.address);
    const o = await c.connect();
    assert.equal(o?.action, 'reject');
    assert.equal(o?.code, 554);
    const h = await c.helo('mail.example.org');
    assert.equal(h?.code, 554);
    assert.equal((await c.mail('alice@example.org'))?.code, 554);
    await c.disconnect();
  });

  it('refuses a sender domain without MX', async () => {
    const c = new DirectConversation(hooks, IP.clean, world.dns.address);
    await c.connect();
    await c.helo('mail.example.org');
    const o = await c.mail('carol@nomx.test');
    assert.equal(o?.action, 'reject');
    assert.equal(o?.code, 550);
    await c.disconnect();
  });
});
