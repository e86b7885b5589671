// A plugin create() that never finishes: the start fails naming it, a reload is refused with the running config kept
// (and the next reload is not held behind it), a stop during such a reload still finishes, and an instance that comes
// after it was given up is closed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import type { GatewayConfig } from '../../../core/config/gateway-schema.ts';

const CORE = pathToFileURL(path.resolve('core/index.ts')).href;

/**
 * A plugin whose create takes `createMs` (never, for -1) with a time limit of `limitMs`, noting in `journal` when
 * it creates and closes an instance.
 */
function pluginModule(dir: string, name: string, journal: string, createMs: number, limitMs: number): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, `
import fs from 'node:fs';
import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: ${JSON.stringify(name)}, description: 'test', configSchema: s.object({}),
  createTimeout: () => ${limitMs},
  async create() {
    if (${createMs} < 0) await new Promise(() => {});
    await new Promise((r) => setTimeout(r, ${createMs}));
    fs.appendFileSync(${JSON.stringify(journal)}, 'created ${name}\\n');
    return { hooks: {}, close() { fs.appendFileSync(${JSON.stringify(journal)}, 'closed ${name}\\n'); } };
  },
});
`);
  return file;
}

describe('a plugin create() that does not finish', function () {
  this.timeout(30_000);
  let dir: string;
  let journal: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugin-create-time-'));
    journal = path.join(dir, 'journal');
    fs.writeFileSync(journal, '');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fails the start with a message naming the plugin and the time limit', async () => {
    const plugins = [{ name: 'hangs', module: pluginModule(dir, 'hangs', journal, -1, 300) }];
    const started = Date.now();
    await assert.rejects(startGateway({ config: { plugins } }), /^Error: plugins\[0\]: plugin hangs cannot start: its create\(\) did not finish within 300ms$/);
    assert.ok(Date.now() - started < 5_000, 'it did not wait beyond the limit');
  });

  it('refuses a reload and keeps the running config; the next reload is not held behind it', async () => {
    const kept = pluginModule(dir, 'kept', journal, 0, 1000);
    const gw = await startGateway({ config: { plugins: [{ name: 'kept', module: kept }] } });
    try {
      const running = gw.gateway.runtime.config;
      const withHang: GatewayConfig = { ...running, plugins: [...running.plugins, { name: 'hangs', module: pluginModule(dir, 'hangs', journal, -1, 300), required: false, timeout: 30_000 }] };
      assert.equal(await gw.gateway.reload(withHang), false);
      assert.equal(gw.gateway.runtime.config, running, 'the running config is kept');
      assert.deepEqual(gw.gateway.runtime.plugins.map((p) => p.name), ['kept']);
      const refused = gw.logs.find((l) => l.msg === 'config reload refused: a plugin cannot start; the running config is kept');
      assert.ok(refused, 'the refusal is logged');
      assert.match(String(refused.errors), /plugin hangs cannot start: its create\(\) did not finish within 300ms/);
      // The instance of `kept` the refused reload built is closed, not left beside the running one.
      assert.deepEqual(fs.readFileSync(journal, 'utf8').trim().split('\n'), ['created kept', 'created kept', 'closed kept']);
      assert.equal(await gw.gateway.reload(running), true, 'a later reload runs');
    } finally {
      await gw.stop();
    }
  });

  it('lets a stop finish while a reload waits for a create, and closes the instance that comes too late', async () => {
    const gw = await startGateway();
    const running = gw.gateway.runtime.config;
    const slow = pluginModule(dir, 'slow', journal, 1500, 20_000);
    const reloading = gw.gateway.reload({ ...running, plugins: [{ name: 'slow', module: slow, required: false, timeout: 30_000 }] });
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await gw.stop();
    assert.ok(Date.now() - started < 1_000, `the stop took ${Date.now() - started} ms`);
    assert.ok(gw.logs.some((l) => l.msg === 'mailmoat stopped'));
    assert.equal(await reloading, false);
    const refused = gw.logs.find((l) => String(l.msg).startsWith('config reload refused'));
    assert.match(String(refused?.errors), /plugin slow cannot start: its create\(\) was given up: the gateway is stopping/);
    // The create finishes after the stop; what it made is closed then.
    await waitFor('the late plugin closed', () => fs.readFileSync(journal, 'utf8').includes('closed slow') || undefined, 5_000);
    assert.equal(fs.readFileSync(journal, 'utf8'), 'created slow\nclosed slow\n');
  });
});
