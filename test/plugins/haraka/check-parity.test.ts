// `moat check-config` refuses the Haraka folders the start and a reload refuse, in the same words: a config file that
// does not parse (whether a plugin reads it while loading or only in a hook), and a plugin whose code does not
// compile, named by plugin, file and line; the check compiles the code but never runs it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { useFolderBed } from './folder-bed.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

/** A plain plugin whose fifth line holds a syntax error (an unclosed call). */
const W3_BAD = `exports.register = function () {
  this.x = 1
}
exports.hook_mail = function (next) {
  if (this.x) {{ next( }
}
`;

/** A plain plugin that reads its JSON only when mail arrives, never while it loads. */
const LATE_READER = `
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Late', String(this.config.get('late.json').n))
  next()
}
`;

describe('haraka shim: check-config refuses what the start refuses', function () {
  this.timeout(60_000);
  const bed = useFolderBed('haraka-check-parity');
  const configFile = (dir: string) => bed.configFile(dir);
  const start = (file: string) => bed.start(file);

  /** A Haraka folder: `config/<path>` files (subfolders made as needed) and `plugins/<path>` files. */
  function folder(files: { plugins: string; config?: Record<string, string>; code?: Record<string, string> }): string {
    const dir = path.join(bed.base, `haraka-${bed.next()}`);
    const put = (p: string, text: string) => { mkdirSync(path.dirname(p), { recursive: true }); writeFileSync(p, text); };
    put(path.join(dir, 'config', 'plugins'), files.plugins);
    mkdirSync(path.join(dir, 'plugins'), { recursive: true });
    for (const [n, t] of Object.entries(files.config ?? {})) put(path.join(dir, 'config', n), t);
    for (const [n, t] of Object.entries(files.code ?? {})) put(path.join(dir, 'plugins', n), t);
    return dir;
  }

  async function checkConfig(file: string): Promise<{ code: number; stderr: string }> {
    return promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file]).then(
      (r) => ({ code: 0, stderr: r.stderr }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
  }

  /** check-config lists exactly `message` for the entry, and the start is refused with it. */
  async function refusedAlike(file: string, message: string): Promise<void> {
    assert.deepEqual(await checkConfig(file), { code: 1, stderr: `${file}: 1 error(s)\n  plugins[0].dir: ${message}\n` });
    await assert.rejects(start(file), (err: Error) => {
      assert.equal(err.message, `plugins[0]: plugin haraka cannot start: ${message}`);
      return true;
    });
  }

  it('an unparsable JSON or YAML file of config/ (a subfolder too) is refused by check-config and the start alike', async () => {
    const dir = folder({ plugins: 'quiet\n', code: { 'quiet.js': '' }, config: { 'aliases.json': '{ "info": { "action": "alias", ' } });
    const aliases = path.join(dir, 'config', 'aliases.json');
    let why = '';
    try { JSON.parse('{ "info": { "action": "alias", '); } catch (e) { why = (e as Error).message; }
    await refusedAlike(configFile(dir), `haraka config cannot be parsed: ${aliases}: ${why}`);

    const nested = folder({ plugins: 'quiet\n', code: { 'quiet.js': '' }, config: { 'dkim/selectors.yaml': 'a: [1, 2\n', 'ok.json': '{"n": 1}', 'smtp.ini': '[main]\n' } });
    const check = await checkConfig(configFile(nested));
    assert.equal(check.code, 1);
    assert.match(check.stderr, new RegExp(`plugins\\[0\\]\\.dir: haraka config cannot be parsed: ${path.join(nested, 'config', 'dkim', 'selectors.yaml').replace(/[.]/g, '\\.')}: `));
  });

  it('a file a plugin reads only in a hook is refused at start too, not handed to it as an empty config', async () => {
    const dir = folder({ plugins: 'late_reader\n', code: { 'late_reader.js': LATE_READER }, config: { 'late.json': '{ "n": ' } });
    const file = configFile(dir);
    await assert.rejects(start(file), /plugin haraka cannot start: haraka config cannot be parsed: .*late\.json: /);
    assert.equal((await checkConfig(file)).code, 1);
  });

  it('a plain plugin with a syntax error is named with its file and line, by check-config, the start and a reload', async () => {
    const dir = folder({ plugins: 'w3_bad\n', code: { 'w3_bad.js': W3_BAD, 'quiet.js': '' } });
    const file = configFile(dir);
    const message = `haraka plugin w3_bad (${path.join(dir, 'plugins', 'w3_bad.js')}:5): Unexpected token '}'`;
    await refusedAlike(file, message);

    writeFileSync(path.join(dir, 'config', 'plugins'), 'quiet\n');
    const { gateway, logs } = await start(file);
    writeFileSync(path.join(dir, 'config', 'plugins'), 'quiet\nw3_bad\n');
    assert.equal(await gateway.reload(), false);
    assert.ok(logs.some((l) => String(l.errors).includes(message)), JSON.stringify(logs.filter((l) => l.level !== 'debug')));
  });

  it('a package plugin whose entry does not compile, and a register() that throws, name the plugin', async () => {
    const pkg = folder({ plugins: 'pkgbad\n', code: { 'pkgbad/package.json': '{"name":"pkgbad","main":"main.js"}', 'pkgbad/main.js': '\nexports.register = function () {\n  return ]\n}\n' } });
    await refusedAlike(configFile(pkg), `haraka plugin pkgbad (${path.join(pkg, 'plugins', 'pkgbad', 'main.js')}:3): Unexpected token ']'`);

    const thrower = folder({ plugins: 'thrower\n', code: { 'thrower.js': 'exports.register = function () {\n  throw new Error(\'no config for me\')\n}\n' } });
    await assert.rejects(start(configFile(thrower)), (err: Error) => {
      assert.equal(err.message, `plugins[0]: plugin haraka cannot start: haraka plugin thrower (${path.join(thrower, 'plugins', 'thrower.js')}:2): register() failed: no config for me`);
      return true;
    });
  });

  it('check-config compiles a plugin without running it', async () => {
    const marker = path.join(bed.base, 'ran-marker');
    const dir = folder({ plugins: 'runs_on_load\n', code: { 'runs_on_load.js': `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')\n` } });
    const file = configFile(dir);
    assert.deepEqual(await checkConfig(file), { code: 0, stderr: '' });
    assert.equal(existsSync(marker), false, 'check-config ran the plugin\'s code');
    await start(file);
    assert.equal(existsSync(marker), true, 'the start runs it (the marker proves the plugin was found)');
  });

  it('with smtp.ini ignore_bad_plugins, check-config passes a plugin that does not compile and the start skips it, naming the line', async () => {
    const dir = folder({ plugins: 'w3_bad\nquiet\n', code: { 'w3_bad.js': W3_BAD, 'quiet.js': '' }, config: { 'smtp.ini': '[main]\nignore_bad_plugins=true\n' } });
    const file = configFile(dir);
    assert.deepEqual(await checkConfig(file), { code: 0, stderr: '' });
    const { logs } = await start(file);
    assert.ok(logs.some((l) => l.msg === `haraka plugin w3_bad skipped: ${path.join(dir, 'plugins', 'w3_bad.js')}:5: Unexpected token '}'`), JSON.stringify(logs.filter((l) => l.level === 'error')));
    assert.deepEqual(logs.find((l) => l.msg === 'haraka plugins loaded')?.plugins, ['quiet']);
  });
});
