// `--set` takes a list index as `moat check-config` prints it (`plugins[0].pool_size`), as well as dotted
// (`plugins.0.pool_size`): an admin can fix a key by the path the error named. The real CLI, in a child process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { moat } from './moat-cli.ts';
import { applyOverride } from '../../core/config/load.ts';

describe('moat --set with list indexes in brackets', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-set-index-'));
    file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(path.join(dir, 'a.js'), 'module.exports = () => null;\n');
    writeFileSync(file, [
      'server: { hostname: mx.example.com, listen: ["127.0.0.1:2525"] }',
      'domains: [example.com]',
      'data_dir: ./data',
      'plugins:',
      '  - name: scripts',
      '    scripts: [a.js]',
      '    pool_size: 0',
      '',
    ].join('\n'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = (...sets: string[]) => moat(['check-config', '--config', file, ...sets.flatMap((s) => ['--set', s])]);

  it('fixes a key by the path check-config printed for it', async () => {
    const first = await check();
    assert.equal(first.code, 1);
    assert.match(first.stderr, /^ {2}plugins\[0\]\.pool_size: expected a whole number ≥ 1 ≤ 64, got number 0$/m);
    const fixed = await check('plugins[0].pool_size=2');
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal((await check('plugins.0.pool_size=2')).code, 0, 'the dotted form still works');
  });

  it('reads brackets at any depth and after a top-level key, and gives the same errors as the dotted form', async () => {
    const bracketed = await check('plugins[0].pool_size=2', 'plugins[0].scripts[1]=b.js', 'domains[1]=example.net');
    const dotted = await check('plugins.0.pool_size=2', 'plugins.0.scripts.1=b.js', 'domains.1=example.net');
    assert.equal(bracketed.code, 1);
    assert.match(bracketed.stderr, /^ {2}plugins\[0\]\.scripts\[1\]: cannot read filter script .*b\.js: ENOENT$/m);
    assert.equal(bracketed.stderr.split('\n').filter((l) => l.startsWith('  ')).length, 1, bracketed.stderr);
    assert.equal(bracketed.stderr, dotted.stderr);
  });

  it('names an index past the end of a list in the form it was given', async () => {
    const r = await check('plugins[2].timeout=5s');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ {2}plugins\[2\]: is past the end of the list, which has 1 entry: index 1 adds one$/m);
    assert.match((await check('plugins.2.timeout=5s')).stderr, /^ {2}plugins\.2: is past the end of the list/m);
  });

  it('takes only digits in brackets as an index: a route to an address literal keeps its brackets', () => {
    const raw: Record<string, unknown> = {};
    assert.equal(applyOverride(raw, 'routes.[192.0.2.1].via=mx'), undefined);
    assert.deepEqual(raw, { routes: { '[192.0.2.1]': { via: 'mx' } } });
  });
});
