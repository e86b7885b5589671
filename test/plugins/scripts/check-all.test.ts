// `moat check-config` on the scripts plugin reports every script it would refuse at once, not the first only.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import scriptsPlugin from '../../../plugins/scripts/index.ts';
import type { Issue } from '../../../core/index.ts';

describe('plugins/scripts check', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-check-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function check(options: Record<string, unknown>): Promise<Issue[]> {
    const issues: Issue[] = [];
    const cfg = scriptsPlugin.configSchema.parse(options, 'plugins[0]', issues);
    assert.deepEqual(issues, []);
    return scriptsPlugin.check!(cfg, { configDir: dir, projectDir: dir, dataDir: dir });
  }

  it('names a missing script and another script\'s syntax error together', async () => {
    writeFileSync(path.join(dir, 'good.js'), 'module.exports = () => null;\n');
    writeFileSync(path.join(dir, 'broken.js'), 'module.exports = function (m) { return { findings: [ };\n');
    const issues = await check({ scripts: ['./absent.js', './good.js', './broken.js'] });
    assert.equal(issues.length, 2, JSON.stringify(issues));
    assert.equal(issues[0].path, 'scripts[0]');
    assert.match(issues[0].message, /cannot read filter script .*absent\.js: ENOENT$/);
    assert.equal(issues[1].path, 'scripts[2]');
    assert.match(issues[1].message, /broken\.js:1:54 is not valid JavaScript: Unexpected token '\}'$/);
  });

  it('places an error in the module wrapper\'s closing line (an unclosed brace) at the end of the file\'s last line', async () => {
    writeFileSync(path.join(dir, 'unclosed.js'), 'module.exports = function (m) {\n  return 1;\n\n');
    const issues = await check({ scripts: ['./unclosed.js'] });
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.match(issues[0].message, /unclosed\.js:2:12 is not valid JavaScript: /);
  });

  it('finds nothing wrong with readable, valid scripts', async () => {
    assert.deepEqual(await check({ scripts: ['./good.js'] }), []);
  });
});
