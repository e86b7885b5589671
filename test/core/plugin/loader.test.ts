// Plugin creation: when a plugin stops the start, the ones created before it are closed, not left running.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startGateway } from '../../helpers/gateway.ts';
import { validatePluginOptions } from '../../../core/plugin/loader.ts';

const CORE = pathToFileURL(path.resolve('core/index.ts')).href;

/** A plugin module whose create and close leave a line in `journal`, and whose create fails when told to. */
function pluginModule(dir: string, name: string, journal: string, fails: 'no' | 'unavailable' | 'broken'): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, `
import fs from 'node:fs';
import { definePlugin, PluginUnavailableError, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: ${JSON.stringify(name)}, description: 'test', configSchema: s.object({}),
  create() {
    if (${JSON.stringify(fails)} === 'unavailable') throw new PluginUnavailableError('its resource is missing');
    if (${JSON.stringify(fails)} === 'broken') throw new Error('it is broken');
    fs.appendFileSync(${JSON.stringify(journal)}, 'created ${name}\\n');
    return { hooks: {}, close() { fs.appendFileSync(${JSON.stringify(journal)}, 'closed ${name}\\n'); } };
  },
});
`);
  return file;
}

describe('plugin creation', () => {
  let dir: string;
  let journal: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugin-loader-'));
    journal = path.join(dir, 'journal');
    fs.writeFileSync(journal, '');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const [fails, required] of [['broken', false], ['unavailable', true]] as const) {
    it(`closes the plugins created before one that stops the start (${fails}${required ? ', required' : ''})`, async () => {
      const plugins = [
        { name: 'first', module: pluginModule(dir, `first-${fails}`, journal, 'no') },
        { name: 'second', module: pluginModule(dir, `second-${fails}`, journal, 'no') },
        { name: 'third', module: pluginModule(dir, `third-${fails}`, journal, fails), required },
      ];
      await assert.rejects(startGateway({ config: { plugins } }), /plugin third-\w+ cannot start: it(s resource)? is/);
      assert.deepEqual(fs.readFileSync(journal, 'utf8').trim().split('\n'),
        [`created first-${fails}`, `created second-${fails}`, `closed first-${fails}`, `closed second-${fails}`]);
    });
  }

  it('keeps the others running when a plugin that is not required cannot run', async () => {
    const plugins = [
      { name: 'kept', module: pluginModule(dir, 'kept', journal, 'no') },
      { name: 'gone', module: pluginModule(dir, 'gone', journal, 'unavailable') },
    ];
    const gw = await startGateway({ config: { plugins } });
    try {
      assert.equal(fs.readFileSync(journal, 'utf8'), 'created kept\n');
      assert.ok(gw.logs.some((l) => l.msg === 'plugin disabled' && l.plugin === 'gone'));
    } finally {
      await gw.stop();
    }
    assert.equal(fs.readFileSync(journal, 'utf8'), 'created kept\nclosed kept\n');
  });

  it('names the plugin and its file when its module throws while it loads', async () => {
    fs.writeFileSync(path.join(dir, 'throws.ts'), "throw new Error('boom at import');\n");
    fs.writeFileSync(path.join(dir, 'broken.ts'), 'export default { oops\n');
    const issues = await validatePluginOptions([
      { name: 'throws', module: path.join(dir, 'throws.ts'), required: false, timeout: 1000 },
      { name: 'broken', module: path.join(dir, 'broken.ts'), required: false, timeout: 1000 },
    ]);
    assert.deepEqual(issues.map((i) => i.path), ['plugins[0].name', 'plugins[1].name']);
    assert.match(issues[0].message, new RegExp(`^plugin "throws" cannot be loaded from ${path.join(dir, 'throws.ts')}: boom at import$`));
    assert.match(issues[1].message, new RegExp(`^plugin "broken" cannot be loaded from ${path.join(dir, 'broken.ts')}: `));
  });
});
