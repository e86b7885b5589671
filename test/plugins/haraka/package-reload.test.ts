// An npm-package Haraka plugin (node_modules/haraka-plugin-<name>) edited in place: a reload runs the edited code, as it
// does a plain plugin's. Only the package's own files are loaded anew: a dependency in its own node_modules, and
// every module outside the package, stay the instances already loaded. A real gateway, a real package folder.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Gateway } from '../../../core/gateway.ts';
import { useFolderBed } from './folder-bed.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { message } from './setup.ts';

/** The package's entry: a header with its own file's word, the dependency's id, and the id of this load of the entry. */
const ENTRY = (header: string) => `'use strict';
const word = require('./lib/word');
const dep = require('stamp-dep');
const loaded = Math.random().toString(36).slice(2);
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('${header}', word + ' dep=' + dep.id + ' load=' + loaded);
  next();
};
`;

describe('haraka shim: an npm-package plugin edited, then a reload', function () {
  this.timeout(60_000);
  const bed = useFolderBed('haraka-package-reload');

  let pkg: string;
  let dir: string;

  before(() => {
    dir = path.join(bed.base, 'haraka');
    pkg = path.join(dir, 'node_modules', 'haraka-plugin-stamp');
    mkdirSync(path.join(dir, 'config'), { recursive: true });
    mkdirSync(path.join(pkg, 'lib'), { recursive: true });
    mkdirSync(path.join(pkg, 'node_modules', 'stamp-dep'), { recursive: true });
    writeFileSync(path.join(dir, 'config', 'plugins'), 'stamp\n');
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'haraka-plugin-stamp', version: '1.0.0', main: 'index.js' }));
    writeFileSync(path.join(pkg, 'index.js'), ENTRY('X-Stamp'));
    writeFileSync(path.join(pkg, 'lib', 'word.js'), 'module.exports = "one";\n');
    writeFileSync(path.join(pkg, 'node_modules', 'stamp-dep', 'package.json'), JSON.stringify({ name: 'stamp-dep', version: '1.0.0', main: 'index.js' }));
    writeFileSync(path.join(pkg, 'node_modules', 'stamp-dep', 'index.js'), 'module.exports = { id: Math.random().toString(36).slice(2) };\n');
  });

  /** The relayed copy's header `name` of one message from a public client, parsed: word, dep id, load id. */
  async function stamp(gateway: Gateway, name = 'X-Stamp'): Promise<{ word: string; dep: string; load: string } | undefined> {
    const before = bed.sink.messages.length;
    const d = await SmtpDialog.connect(gateway.port());
    try {
      await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
      assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<postmaster@example.com>')).code, 250);
      assert.equal((await d.data(message({ to: 'postmaster@example.com' }))).code, 250);
    } finally {
      await d.quit();
    }
    const raw = (await bed.sink.waitFor(before + 1))[before].raw.toString('latin1');
    const m = new RegExp(`^${name}: (\\S+) dep=(\\S+) load=(\\S+)\\r?$`, 'mi').exec(raw);
    return m ? { word: m[1], dep: m[2], load: m[3] } : undefined;
  }

  it('runs the edited files after a reload, keeps the package\'s dependencies, and loads an unedited package once', async () => {
    const { gateway, logs } = await bed.start(bed.configFile(dir));
    const first = await stamp(gateway);
    assert.equal(first?.word, 'one');

    // A reload with nothing edited keeps the loaded code: the entry is not evaluated again.
    assert.equal(await gateway.reload(), true);
    assert.deepEqual(await stamp(gateway), first);

    // A file the entry requires is edited: the package is loaded anew, its own dependency is not.
    writeFileSync(path.join(pkg, 'lib', 'word.js'), 'module.exports = "two";\n');
    assert.equal(await gateway.reload(), true);
    const second = await stamp(gateway);
    assert.equal(second?.word, 'two');
    assert.equal(second?.dep, first!.dep);
    assert.notEqual(second?.load, first!.load);
    const told = logs.filter((l) => String(l.msg).startsWith('haraka plugin stamp: its package\'s code changed'));
    assert.equal(told.length, 1, JSON.stringify(told));
    assert.deepEqual(told[0].files, [path.join(pkg, 'lib', 'word.js')]);

    // The entry itself is edited (another header): that runs too.
    writeFileSync(path.join(pkg, 'index.js'), ENTRY('X-Stamp-Edited'));
    assert.equal(await gateway.reload(), true);
    const third = await stamp(gateway, 'X-Stamp-Edited');
    assert.equal(third?.word, 'two');
    assert.equal(third?.dep, first!.dep);
  });

  it('warns, naming the restart, when the edited package is an ES module, which Node cannot load again', async () => {
    const esm = path.join(bed.base, 'haraka-esm');
    const esmPkg = path.join(esm, 'node_modules', 'haraka-plugin-esm_stamp');
    mkdirSync(path.join(esm, 'config'), { recursive: true });
    mkdirSync(esmPkg, { recursive: true });
    writeFileSync(path.join(esm, 'config', 'plugins'), 'esm_stamp\n');
    writeFileSync(path.join(esmPkg, 'package.json'), JSON.stringify({ name: 'haraka-plugin-esm_stamp', version: '1.0.0', type: 'module', main: 'index.js' }));
    const code = (word: string) => `export function hook_data_post(next, connection) {
  connection.transaction.add_header('X-Stamp', '${word} dep=none load=esm');
  next();
}
`;
    writeFileSync(path.join(esmPkg, 'index.js'), code('one'));
    const { gateway, logs } = await bed.start(bed.configFile(esm));
    assert.equal((await stamp(gateway))?.word, 'one');
    writeFileSync(path.join(esmPkg, 'index.js'), code('two'));
    assert.equal(await gateway.reload(), true);
    assert.equal((await stamp(gateway))?.word, 'one');
    const warned = logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('haraka plugin esm_stamp: its code changed since it was loaded'));
    assert.equal(warned.length, 1);
    assert.equal(warned[0].msg, `haraka plugin esm_stamp: its code changed since it was loaded (${path.join(esmPkg, 'index.js')}), and an ES module cannot be loaded again: the code loaded first runs until a restart`);
  });
});
