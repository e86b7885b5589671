// A plugin whose create() refuses its options stops the start with a message that names the entry as `moat
// check-config` does (`plugins[0].retry_window: …`), beside the plugin's name, so the admin finds the line to fix.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

const CORE = pathToFileURL(path.resolve(import.meta.dirname, '..', '..', '..', 'core', 'index.ts')).href;

describe('a plugin that cannot start, named by its entry', function () {
  this.timeout(30_000);
  let dir: string;
  let end: () => void;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-plugin-start-'));
    end = holdUntilExit({ dir });
  });
  afterEach(() => end());

  it('names plugins[i] and the option the plugin refused, keeping the plugin\'s name', async () => {
    const plugins = [{ name: 'spf' }, { name: 'greylist', delay: '5m', retry_window: '1m' }];
    await assert.rejects(startGateway({ dataDir: path.join(dir, 'one'), config: { plugins } }), (e: Error) => {
      assert.equal(e.message, 'plugins[1].retry_window: plugin greylist cannot start: must be longer than delay, or no retry could ever pass');
      return true;
    });
  });

  it('names each option of a list of refusals, and plugins[i] alone when the plugin names no option', async () => {
    const both = [{ name: 'greylist', delay: '40000d', retry_window: '1m' }];
    await assert.rejects(startGateway({ dataDir: path.join(dir, 'two'), config: { plugins: both } }), (e: Error) => {
      assert.equal(e.message, 'plugins[0].delay: plugin greylist cannot start: at most 36500d; plugins[0].retry_window: must be longer than delay, or no retry could ever pass');
      return true;
    });
    const module = path.join(dir, 'thrower.ts');
    writeFileSync(module, `import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({ name: 'thrower', description: 'refuses to start', configSchema: s.object({ level: s.number().default(1) }),
  create() { throw new Error('level: must be 2 today'); } });
`);
    // `level` is an option of this plugin, so the message is its key's.
    await assert.rejects(startGateway({ dataDir: path.join(dir, 'three'), config: { plugins: [{ name: 'thrower', module }] } }),
      /^Error: plugins\[0\]\.level: plugin thrower cannot start: must be 2 today$/);
    // `Note` is no option of this one: the text is the plugin's own, under its entry.
    const other = path.join(dir, 'other.ts');
    writeFileSync(other, `import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({ name: 'other', description: 'refuses to start', configSchema: s.object({}),
  create() { throw new Error('Note: the socket is gone'); } });
`);
    await assert.rejects(startGateway({ dataDir: path.join(dir, 'four'), config: { plugins: [{ name: 'other', module: other }] } }), (e: Error) => {
      assert.equal(e.message, 'plugins[0]: plugin other cannot start: Note: the socket is gone');
      return true;
    });
  });
});
