// Plugin creation: when a plugin stops the start, the ones created before it are closed, not left running.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startGateway } from '../../helpers/gateway.ts';
import { validatePluginOptions } from '../../../core/plugin/loader.ts';
import { validateConfig } from '../../../core/config/load.ts';

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
      // Named by its entry, not by its module (third-broken, third-unavailable).
      await assert.rejects(startGateway({ config: { plugins } }), /^Error: plugins\[2\]: plugin third cannot start: it(s resource)? is/);
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
    assert.deepEqual(issues.map((i) => i.path), ['plugins[0].module', 'plugins[1].module']);
    assert.match(issues[0].message, new RegExp(`^plugin "throws" cannot be loaded from ${path.join(dir, 'throws.ts')}: boom at import$`));
    assert.match(issues[1].message, new RegExp(`^plugin "broken" cannot be loaded from ${path.join(dir, 'broken.ts')}: `));
  });

  it('names the module key and the whole path when a module file is missing', async () => {
    const issues = await validatePluginOptions([{ name: 'absent', module: path.join(dir, 'absent.ts'), required: false, timeout: 1000 }]);
    assert.deepEqual(issues, [{ path: 'plugins[0].module', message: `no plugin module at ${path.join(dir, 'absent.ts')}` }]);
  });

  it('warns on reload when a plugin module changed since it was loaded, as the old code keeps running', async () => {
    const file = pluginModule(dir, 'edited', journal, 'no');
    const gw = await startGateway({ config: { plugins: [{ name: 'edited', module: file }] } });
    try {
      assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), true);
      assert.ok(!gw.logs.some((l) => String(l.msg).startsWith('plugin code changed')), 'nothing changed yet');
      fs.appendFileSync(file, '// edited\n');
      assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), true);
      const warned = gw.logs.filter((l) => String(l.msg).startsWith('plugin code changed since it was loaded'));
      assert.equal(warned.length, 1);
      assert.equal(warned[0].plugin, 'edited');
      assert.equal(warned[0].file, file);
      assert.equal(warned[0].level, 'warn');
    } finally {
      await gw.stop();
    }
  });

  it('parses an entry\'s options once to create its plugin, after the config\'s own validation', async () => {
    const file = path.join(dir, 'counted.ts');
    // Each parse of the options runs the schema's check, which leaves a line in the journal.
    fs.writeFileSync(file, `
import fs from 'node:fs';
import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: 'counted', description: 'test',
  configSchema: s.checked(s.object({ level: s.number().default(1) }), () => fs.appendFileSync(${JSON.stringify(journal)}, 'parsed\\n')),
  create: () => ({ hooks: {} }),
});
`);
    const gw = await startGateway({ config: { plugins: [{ name: 'counted', module: file, level: 2 }] } });
    try {
      assert.deepEqual(fs.readFileSync(journal, 'utf8').trim().split('\n'), ['parsed', 'parsed'], 'validated once, parsed once for the chain and the create');
    } finally { await gw.stop(); }
  });

  it('warns when an entry names a module plugin otherwise than the module does', async () => {
    const file = pluginModule(dir, 'real-name', journal, 'no');
    const gw = await startGateway({ config: { plugins: [{ name: 'other-name', module: file }] } });
    try {
      const warned = gw.logs.find((l) => String(l.msg).startsWith('plugin entry name differs'));
      assert.ok(warned, 'warned');
      assert.equal(warned.plugin, 'other-name');
      assert.equal(warned.module_name, 'real-name');
      assert.deepEqual(gw.gateway.runtime.plugins.map((p) => [p.name, p.moduleName]), [['other-name', 'real-name']]);
    } finally { await gw.stop(); }
  });

  it('names a later entry of one name <name>#2, and refuses names whose counters would add up', async () => {
    const file = pluginModule(dir, 'twice', journal, 'no');
    const rbl = (zone: string) => ({ name: 'rbl', zones: [{ zone }] });
    // The second rbl is rbl#2, and a cap may name it.
    const config = await validateConfig({ plugins: [rbl('bl1.test'), { name: 'greylist' }, rbl('bl3.test')], scores: { max_per_plugin: { rbl: 6, 'rbl#2': 1 } } });
    assert.deepEqual(config.scores.max_per_plugin, { rbl: 6, 'rbl#2': 1 });
    await assert.rejects(validateConfig({ plugins: [{ name: 'twice-a', module: file }, { name: 'twice_a', module: file }] }), (e: Error) => {
      assert.match(e.message, /plugins\[1\]\.name: plugins\[1\] goes by "twice_a" and plugins\[0\] by "twice-a", whose counters would add up under twice_a_…: give one another name/);
      return true;
    });
    await assert.rejects(validateConfig({ plugins: [{ name: 'twice', module: file }, { name: 'twice', module: file }, { name: 'twice-2', module: file }] }),
      /plugins\[2\]\.name: plugins\[2\] goes by "twice-2" and plugins\[1\] by "twice#2", whose counters would add up under twice_2_…/);
  });

  it('checks scores.max_per_plugin against the entries\' names, an entry loaded by module too', async () => {
    const rbl = path.resolve('plugins/rbl/index.ts');
    const plugins = [{ name: 'rbl', zones: [{ zone: 'bl1.test' }] }, { name: 'rbl-extra', module: rbl, zones: [{ zone: 'bl3.test' }] }];
    const config = await validateConfig({ plugins, scores: { max_per_plugin: { rbl: 6, 'rbl-extra': 1 } } });
    assert.deepEqual(config.scores.max_per_plugin, { rbl: 6, 'rbl-extra': 1 });
    await assert.rejects(validateConfig({ plugins, scores: { max_per_plugin: { 'rbl-extar': 1 } } }),
      /scores\.max_per_plugin\.rbl-extar: names no plugin in plugins \(rbl, rbl-extra\): it would cap nothing/);
  });
});
