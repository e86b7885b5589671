// A SIGHUP reload creates the new haraka entry before the old one closes: closing the old one must leave the
// process-wide parts the new one uses (the shared Redis client, haraka-config's file watchers) working.
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import harakaPlugin from '../../../plugins/haraka/index.ts';
import type { PluginInstance } from '../../../core/index.ts';
import { DirectConversation } from './direct-harness.ts';
import { startWorld, IP, message, type ShimWorld } from './setup.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

describe('haraka shim across a reload (new entry created, then the old one closed)', function () {
  this.timeout(30_000);
  let world: ShimWorld;
  let fresh: PluginInstance | undefined;

  before(async () => {
    world = await startWorld();
    appendFileSync(path.join(world.dir, 'config', 'plugins'), 'config_word\n');
    writeFileSync(path.join(world.dir, 'config', 'config_word.ini'), 'word=one\n');
  });
  after(async () => {
    await fresh?.close?.();
    await world?.stop();
  });

  async function create(): Promise<PluginInstance> {
    // parsed anew each time, as a reload re-reads the config file
    const cfg = harakaPlugin.configSchema.parse({ dir: world.dir, dns_servers: [world.dns.address] }, '', []);
    return harakaPlugin.create(cfg, { log: silent, services: undefined as never, projectDir: process.cwd(), configDir: process.cwd() });
  }

  async function send(instance: PluginInstance) {
    const c = new DirectConversation(instance.hooks, IP.clean, world.dns.address);
    await c.connect();
    await c.helo('mail.example.org');
    await c.mail('alice@example.org');
    assert.equal((await c.rcpt('bob@example.test'))?.action, 'accept');
    assert.equal(await c.data(message()), undefined);
    await c.afterVerdict('accept');
    await c.disconnect();
    return { findings: c.tx.findings, word: c.tx.added.find(([n]) => n === 'X-Config-Word')?.[1] };
  }

  it('keeps Redis and config reloads working for the new entry, and closes without an unhandled rejection', async () => {
    const old = await create();
    fresh = await create();
    await old.close?.();

    // karma keeps its history in the shared Redis client; with that client closed it records an err result
    const first = await send(fresh);
    assert.deepEqual(first.findings.filter((f) => f.symbol === 'HARAKA_KARMA_ERROR'), []);
    assert.equal(first.word, 'one');
    writeFileSync(path.join(world.dir, 'config', 'config_word.ini'), 'word=two\n');
    await new Promise((r) => setTimeout(r, 6000)); // haraka-config reloads a changed file 5 s after the change
    assert.equal((await send(fresh)).word, 'two');

    const unhandled: unknown[] = [];
    const onRejection = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      await fresh.close?.();
      fresh = undefined;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(unhandled.map(String), []);
  });
});
