// `moat check-config` judges a filter script's syntax as the sandbox does. vm2 parses a script holding `catch`,
// `async`, `import`, `with` or a `\u` escape with its own parser (acorn at ES2022) before V8 compiles it, so newer
// syntax that V8 takes is refused there; check-config (the CLI, as a child process) must refuse the same script, at
// the same place, and take what the sandbox takes, which then runs on a message through a real gateway.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Script } from 'node:vm';
import { stringify } from 'yaml';
import { moduleSource } from '../../../plugins/scripts/protocol.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import { sendOne } from '../clamav/fixtures.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

/** ES2024's RegExp `v` flag on line 3, column 8; the `catch` on line 2 sends the script through vm2's parser. */
const V_FLAG_WITH_CATCH = `module.exports = function (m) {
  try { JSON.parse(m.subject); } catch (e) { }
  if (/[\\p{L}--[a-z]]/v.test(m.subject)) return { action: { type: 'reject', text: 'upper case' } };
  return null;
};
`;

/** ES2025's RegExp modifiers; `async` sends it through vm2's parser. The pattern starts at line 2, column 11. */
const MODIFIERS_IN_ASYNC = `module.exports = async function (m) {
  return /(?i:x)y/.test(m.subject) ? { action: { type: 'reject', text: 'xy' } } : null;
};
`;

/**
 * The newest syntax vm2's parser takes, ES2022 (private fields and methods, a static block, `#x in obj`, a catch
 * without its binding), in a script that holds `catch`; plus library methods newer than that, which are no syntax.
 */
const ES2022_WITH_CATCH = `class Stamp {
  #count = 0;
  static #made = 0;
  static { Stamp.kind = 'stamp'; }
  static isStamp(o) { return #count in o; }
  #bump() { return ++this.#count; }
  next() { Stamp.#made++; return this.#bump(); }
}
module.exports = function (m) {
  let count;
  try { count = new Stamp().next(); } catch { count = -1; }
  const last = [1, 2, 3].findLast((n) => n < 3);
  const sorted = [3, 1, 2].toSorted().join('');
  return { action: { type: 'reject', text: \`\${Stamp.kind} \${Stamp.isStamp(new Stamp())} \${count} \${last} \${sorted} \${m.subject}\` } };
};
`;

/** The `v` flag again, in a script with none of the words that send it through vm2's parser: V8 alone judges it. */
const V_FLAG_ALONE = `module.exports = function (m) {
  return /^[\\p{Lu}--[A-Z]]/v.test(m.subject) ? { action: { type: 'tempfail', text: 'non-ASCII capital' } } : null;
};
`;

describe('plugins/scripts: check-config judges syntax as the sandbox does', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-syntax-'));
    end = holdUntilExit({ dir });
    const files: Record<string, string> = {
      'v-flag-catch.js': V_FLAG_WITH_CATCH, 'modifiers-async.js': MODIFIERS_IN_ASYNC,
      'es2022-catch.js': ES2022_WITH_CATCH, 'v-flag-alone.js': V_FLAG_ALONE,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  const entry = (scripts: string[]) => ({ name: 'scripts', scripts: scripts.map((s) => path.join(dir, s)), pool_size: 1, script_timeout: '5s' });

  function checkConfig(scripts: string[]): { code: number; out: string } {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, stringify({ data_dir: './data', domains: ['example.com'], plugins: [entry(scripts)] }));
    const r = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file], { encoding: 'utf8', cwd: os.tmpdir() });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  }

  async function startError(scripts: string[]): Promise<string> {
    try {
      const gw = await startGateway({ config: { plugins: [entry(scripts)] }, quiet: true });
      await gw.stop();
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail(`the gateway started with ${scripts.join(', ')}`);
  }

  it('refuses, with file:line:column, syntax that V8 takes and vm2\'s parser refuses, as the start does', async () => {
    for (const [name, source, at, why] of [
      ['v-flag-catch.js', V_FLAG_WITH_CATCH, '3:8', 'Invalid regular expression flag'],
      ['modifiers-async.js', MODIFIERS_IN_ASYNC, '2:11', 'Invalid regular expression: /(?i:x)y/: Invalid group'],
    ]) {
      const file = path.join(dir, name);
      // The premise: V8 alone compiles it, as check-config used to.
      assert.doesNotThrow(() => new Script(moduleSource('', source)));
      const r = checkConfig([name]);
      assert.equal(r.code, 1, r.out);
      assert.ok(r.out.includes(`plugins[0].scripts[0]: ${file}:${at} is not valid JavaScript: ${why}`), r.out);
      const refused = await startError([name]);
      assert.ok(refused.includes(`${file}:${at}: SyntaxError: ${why}`), refused);
    }
  });

  it('takes ES2022 syntax with a catch and newer syntax without one, and both run on a live message', async () => {
    const r = checkConfig(['es2022-catch.js', 'v-flag-alone.js']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /: OK$/m);

    const gw = await startGateway({ config: { plugins: [entry(['es2022-catch.js'])] } });
    try {
      const reply = await sendOne(gw.port, testMessage({ from: 'sender@example.org', to: 'rcpt@example.com', subject: 'hello' }));
      assert.equal(reply.code, 550, reply.text);
      assert.match(reply.text, /stamp true 1 2 123 hello/);
    } finally {
      await gw.stop();
    }

    const gwV = await startGateway({ config: { plugins: [entry(['v-flag-alone.js'])] } });
    try {
      const refused = await sendOne(gwV.port, testMessage({ from: 'sender@example.org', to: 'rcpt@example.com', subject: `=?UTF-8?B?${Buffer.from('Émile').toString('base64')}?=` }));
      assert.equal(refused.code, 451, refused.text);
      assert.match(refused.text, /non-ASCII capital/);
      const passed = await sendOne(gwV.port, testMessage({ from: 'sender@example.org', to: 'rcpt@example.com', subject: 'Emile' }));
      assert.equal(passed.code, 250, passed.text);
    } finally {
      await gwV.stop();
    }
  });
});
