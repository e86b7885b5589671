// What the log warns about a plugin entry is said by the commands an admin runs too: `moat reload` prints that a
// plugin's code changed since it was loaded, `moat check-config` that an entry's name is not its module's, and what
// a second entry of one name goes by.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { spawnGateway } from '../../helpers/gateway.ts';

const CORE = pathToFileURL(path.resolve('core/index.ts')).href;
const MOAT = path.resolve('scripts/moat.js');

function pluginModule(dir: string, name: string): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, `
import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({ name: ${JSON.stringify(name)}, description: 'test', configSchema: s.object({}), create: () => ({ hooks: {} }) });
`);
  return file;
}

function moat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('plugin entry warnings on the command line', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'entry-warnings-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('moat reload prints that a plugin\'s code changed since it was loaded', async () => {
    const module = pluginModule(dir, 'edited');
    const gw = await spawnGateway({ config: { plugins: [{ name: 'edited', module }] } });
    try {
      const first = await moat(['reload', '--config', gw.configFile]);
      assert.equal(first.code, 0, first.stderr);
      assert.doesNotMatch(first.stdout, /warning/);
      fs.appendFileSync(module, '// edited\n');
      const second = await moat(['reload', '--config', gw.configFile]);
      assert.equal(second.code, 0, second.stderr);
      assert.ok(second.stdout.includes(`  warning: plugin edited: its code changed since it was loaded (${module}): the code loaded first runs until a restart`), second.stdout);
    } finally {
      await gw.kill();
    }
  });

  it('moat check-config warns when an entry names a module plugin otherwise than the module does', async () => {
    const module = pluginModule(dir, 'real-name');
    const config = path.join(dir, 'mailmoat.yaml');
    fs.writeFileSync(config, stringify({ data_dir: path.join(dir, 'data'), plugins: [{ name: 'other-name', module }] }));
    const r = await moat(['check-config', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: OK$/m);
    assert.ok(r.stderr.includes('warning: plugins[0].name: is "other-name" but its module defines "real-name": its findings, log lines, counters and scores.max_per_plugin cap go by "other-name"'), r.stderr);
  });

  it('moat check-config says what a second entry of one name goes by', async () => {
    const config = path.join(dir, 'mailmoat.yaml');
    fs.writeFileSync(config, stringify({ data_dir: path.join(dir, 'data'), plugins: [{ name: 'rbl', zones: [{ zone: 'bl1.test' }] }, { name: 'rbl', zones: [{ zone: 'bl3.test' }] }] }));
    const r = await moat(['check-config', '--config', config]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /: OK$/m);
    assert.ok(r.stderr.includes('warning: plugins[1].name: "rbl" is plugins[0]\'s name too: this entry\'s findings, state, log lines, counters and scores.max_per_plugin cap go by "rbl#2"'), r.stderr);
  });
});
