// The Haraka folder an entry names: a wrong `dir` or a missing plugin list stops the start (never Haraka's default
// plugins in its place), an empty list runs no plugin and says so, a plugin whose hooks never run here is named, an
// unparsable config file is refused, and a reload right after an edit runs what the files say now.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Gateway } from '../../../core/gateway.ts';
import { ConfigError, loadConfig } from '../../../core/config/load.ts';
import { useFolderBed } from './folder-bed.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { message } from './setup.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

/** A plain plugin that shows its ini's `word` in a header; its name is the header's suffix. */
const WORD_PLUGIN = (name: string) => `
exports.register = function () { this.load_ini() }
exports.load_ini = function () { this.cfg = this.config.get('${name}.ini', () => this.load_ini()) }
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Word-${name}', String(this.cfg.main.word))
  next()
}
`;

/** A plain plugin that reads a JSON file in register(), as many npm plugins do. */
const JSON_PLUGIN = `
exports.register = function () { this.cfg = this.config.get('json_reader.json') }
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Json-Reader', String(this.cfg.level))
  next()
}
`;

describe('haraka shim: the folder an entry names', function () {
  this.timeout(60_000);
  // nomx.test has no address at all: Haraka's default mail_from.is_resolvable refuses such a sender
  const bed = useFolderBed('haraka-folder-check', { 'nomx.test': { '@': { TXT: ['no mail here'] } } });
  const configFile = (dir: string) => bed.configFile(dir);
  const start = (file: string) => bed.start(file);

  /** A folder under the test's base: `config/<name>` and `plugins/<name>` files; `plugins: null` writes no list. */
  function folder(files: { plugins?: string | null; config?: Record<string, string>; code?: Record<string, string> }): string {
    const dir = path.join(bed.base, `haraka-${bed.next()}`);
    mkdirSync(path.join(dir, 'config'), { recursive: true });
    mkdirSync(path.join(dir, 'plugins'));
    if (files.plugins !== null) writeFileSync(path.join(dir, 'config', 'plugins'), files.plugins ?? '');
    for (const [n, t] of Object.entries(files.config ?? {})) writeFileSync(path.join(dir, 'config', n), t);
    for (const [n, t] of Object.entries(files.code ?? {})) writeFileSync(path.join(dir, 'plugins', `${n}.js`), t);
    return dir;
  }

  /** One message from a public client (by XCLIENT) to postmaster@example.com; the replies, and the relayed copy when accepted. */
  async function send(gateway: Gateway, from = 'alice@example.org') {
    const before = bed.sink.messages.length;
    const d = await SmtpDialog.connect(gateway.port());
    try {
      await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
      const mail = await d.cmd(`MAIL FROM:<${from}>`);
      const rcpt = mail.code === 250 ? await d.cmd('RCPT TO:<postmaster@example.com>') : undefined;
      const data = rcpt?.code === 250 ? await d.data(message({ from, to: 'postmaster@example.com' })) : undefined;
      const relayed = data?.code === 250 ? (await bed.sink.waitFor(before + 1))[before].raw.toString('latin1') : undefined;
      return { mail, rcpt, data, relayed };
    } finally {
      await d.quit();
    }
  }

  /** `moat check-config`, the command an admin runs, in its own process. */
  async function checkConfig(file: string): Promise<{ code: number; stderr: string }> {
    return promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file]).then(
      (r) => ({ code: 0, stderr: r.stderr }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
  }

  /**
   * A config for `dir`, whose config/plugins names `name` that no search path holds: check-config names it, and the
   * start refuses it. Returns the config file.
   */
  async function refusedForMissing(dir: string, name: string): Promise<string> {
    const file = configFile(dir);
    const list = path.join(dir, 'config', 'plugins');
    assert.deepEqual(await checkConfig(file), {
      code: 1,
      stderr: `${file}: 1 error(s)\n  plugins[0].dir: ${list} names the plugin ${name}, which is neither in ${path.join(dir, 'plugins')}, nor installed as haraka-plugin-${name}, nor one of Haraka's own\n`,
    });
    await assert.rejects(start(file), new RegExp(`plugin haraka cannot start: Loading plugin ${name} failed: No plugin with this name found`));
    return file;
  }

  function header(raw: string | undefined, name: string): string | undefined {
    return new RegExp(`^${name}: (.*)$`, 'mi').exec(raw ?? '')?.[1]?.trim();
  }

  it('refuses a dir that does not exist: check-config names the key, the start names the folder', async () => {
    const missing = path.join(bed.base, 'no-such-haraka');
    const file = configFile(missing);
    await assert.rejects(loadConfig({ file }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues, [{ path: 'plugins[0].dir', message: `the Haraka folder ${missing} does not exist` }]);
      return true;
    });
    assert.deepEqual(await checkConfig(file), { code: 1, stderr: `${file}: 1 error(s)\n  plugins[0].dir: the Haraka folder ${missing} does not exist\n` });

    // relative: taken from the config file's folder, by check-config and by the start alike
    const relative = configFile('no-such-haraka');
    const where = path.join(path.dirname(relative), 'no-such-haraka');
    assert.deepEqual(await checkConfig(relative), { code: 1, stderr: `${relative}: 1 error(s)\n  plugins[0].dir: the Haraka folder ${where} does not exist\n` });
    await assert.rejects(start(relative), new RegExp(`plugin haraka cannot start: the Haraka folder ${where} does not exist`));
  });

  it('refuses a folder without config/plugins, rather than running Haraka\'s default plugin list', async () => {
    const dir = folder({ plugins: null });
    await assert.rejects(loadConfig({ file: configFile(dir) }), /plugins\[0\]\.dir: .*config\/plugins does not exist/);
    // as `../haraka-N` from the config file's folder (both lie in the test's base folder)
    const rel = configFile(path.join('..', path.basename(dir)));
    const why = `${path.join(dir, 'config', 'plugins')} does not exist: a Haraka folder names its plugins there, one per line`;
    assert.deepEqual(await checkConfig(rel), { code: 1, stderr: `${rel}: 1 error(s)\n  plugins[0].dir: ${why}\n` });
    await assert.rejects(start(rel), (err: Error) => err.message === `plugins[0]: plugin haraka cannot start: ${why}`);

    // the config folder named instead of the folder holding it
    const inside = path.join(folder({ plugins: 'rcpt_to.in_host_list\n' }), 'config');
    await assert.rejects(loadConfig({ file: configFile(inside) }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.issues[0].message, `${path.join(inside, 'config', 'plugins')} does not exist: ${inside} looks like the config folder itself; name the folder that holds it`);
      return true;
    });
  });

  it('check-config names a plugin of config/plugins that cannot be found, as the start refuses it; old names and Haraka\'s own pass', async () => {
    const dir = folder({ plugins: 'data.headers\nrcpt_to.in_host_list\nharaka-plugin-no_such_thing\nlocal_one\n', code: { local_one: '' } });
    const file = await refusedForMissing(dir, 'no_such_thing');

    // smtp.ini's ignore_bad_plugins makes the start skip it (logged), so the check lets it pass
    writeFileSync(path.join(dir, 'config', 'smtp.ini'), '[main]\nignore_bad_plugins=1\n');
    assert.deepEqual(await checkConfig(file), { code: 0, stderr: '' });
    const { logs } = await start(file);
    assert.deepEqual(logs.find((l) => l.msg === 'haraka plugins loaded')?.plugins, ['headers', 'rcpt_to.in_host_list', 'local_one']);
  });

  it('check-config reads smtp.ini\'s ignore_bad_plugins as the start does: a key given twice counts by its last line, as in Haraka', async () => {
    // An admin appends the setting to a smtp.ini that still holds the sample's line uncommented.
    const skipping = folder({ plugins: 'no_such_thing\nlocal_one\n', code: { local_one: '' }, config: { 'smtp.ini': '[main]\nignore_bad_plugins=0\nignore_bad_plugins=true\n' } });
    const file = configFile(skipping);
    assert.deepEqual(await checkConfig(file), { code: 0, stderr: '' });
    const { logs } = await start(file);
    assert.ok(logs.some((l) => l.msg === 'haraka plugin no_such_thing skipped: Loading plugin no_such_thing failed: No plugin with this name found'));
    assert.deepEqual(logs.find((l) => l.msg === 'haraka plugins loaded')?.plugins, ['local_one']);

    // And the other way round: the start refuses the plugin, so the check names it.
    await refusedForMissing(folder({ plugins: 'no_such_thing\n', config: { 'smtp.ini': '[ main ]\nignore_bad_plugins=true\nignore_bad_plugins=0\n' } }), 'no_such_thing');
  });

  it('a plugin named like a property of every object (toString) is a plugin name, not an old name with a replacement', async () => {
    await refusedForMissing(folder({ plugins: 'toString\n' }), 'toString');
  });

  it('an empty config/plugins runs no Haraka plugin (not mail_from.is_resolvable & co.) and warns', async () => {
    const dir = folder({ plugins: '# every plugin commented out for now\n\n' });
    const { gateway, logs } = await start(configFile(dir));
    const loaded = logs.find((l) => l.msg === 'haraka plugins loaded');
    assert.deepEqual(loaded?.plugins, []);
    assert.ok(logs.some((l) => l.level === 'warn' && l.msg === 'haraka entry runs no plugins: its config/plugins names none'));
    // Haraka's default is_resolvable would answer this sender 450/550 (its domain has no MX and no address)
    const r = await send(gateway, 'someone@nomx.test');
    assert.equal(r.mail.code, 250, r.mail.text);
    assert.equal(r.data?.code, 250, r.data?.text);
  });

  it('names a plugin whose hooks never run here (queue/smtp_forward), and one with some that do not', async () => {
    const dir = folder({
      plugins: 'queue/smtp_forward\nmixed\n',
      // init_child runs in neither (single-process Haraka has no children): not named
      code: { mixed: 'exports.hook_mail = function (next) { next() }\nexports.hook_queue_outbound = function (next) { next() }\nexports.hook_init_child = function (next) { next() }\n' },
    });
    const { gateway, logs } = await start(configFile(dir));
    const told = logs.filter((l) => /^haraka plugin /.test(String(l.msg)));
    assert.deepEqual(told.map((l) => [l.level, l.msg, l.hooks]), [
      ['warn', 'haraka plugin queue/smtp_forward does nothing here: Mailmoat never runs the hooks it registered', ['queue', 'get_mx']],
      ['info', 'haraka plugin mixed: Haraka would run some of its hooks, Mailmoat does not (it queues, relays and logs itself)', ['queue_outbound']],
    ]);
    // Mailmoat relays it itself
    assert.equal((await send(gateway)).data?.code, 250);
  });

  it('rcpt_to.in_host_list without a host_list of the folder accepts no domain of Haraka\'s example install (haraka.local)', async () => {
    for (const config of [{}, { host_list: '# the domains are Mailmoat\'s\n' }] as Array<Record<string, string>>) {
      const { gateway } = await start(configFile(folder({ plugins: 'rcpt_to.in_host_list\n', config })));
      const d = await SmtpDialog.connect(gateway.port());
      try {
        await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
        assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
        const foreign = await d.cmd('RCPT TO:<someone@haraka.local>');
        assert.equal(Math.floor(foreign.code / 100), 5, `${foreign.code} ${foreign.text}`);
        assert.equal((await d.cmd('RCPT TO:<postmaster@example.com>')).code, 250);
      } finally {
        await d.quit();
      }
    }
  });

  it('refuses a config file that cannot be parsed, at start and on reload, and the running entry keeps the old contents', async () => {
    const bad = folder({ plugins: 'json_reader\n', code: { json_reader: JSON_PLUGIN }, config: { 'json_reader.json': '{ "level": ' } });
    await assert.rejects(start(configFile(bad)), /plugin haraka cannot start: haraka config cannot be parsed: .*json_reader\.json: /);

    const dir = folder({ plugins: 'json_reader\n', code: { json_reader: JSON_PLUGIN }, config: { 'json_reader.json': '{ "level": 3 }' } });
    const { gateway, logs } = await start(configFile(dir));
    assert.equal(header((await send(gateway)).relayed, 'X-Json-Reader'), '3');
    writeFileSync(path.join(dir, 'config', 'json_reader.json'), '{ "level": 4');
    assert.equal(await gateway.reload(), false);
    assert.ok(logs.some((l) => l.msg === 'config reload refused: a plugin cannot start; the running config is kept' && /json_reader\.json/.test(String(l.errors))));
    assert.equal(header((await send(gateway)).relayed, 'X-Json-Reader'), '3');
  });

  it('a start or reload refused after plugins loaded shuts them down (unknown plugin, unparsable file, init_master refused)', async () => {
    // A plugin holding a timer from register() until shutdown(), as plugins hold Redis clients and watchers; the
    // process (shared with the plugin's sandbox) carries its count of live ones to the test.
    const COUNTER_PLUGIN = `
exports.register = function () {
  this.cfg = this.config.get('counter.json')
  this.timer = setInterval(() => {}, 60000)
  process.emit('mailmoat-haraka-fixture', 1)
}
exports.shutdown = function () {
  clearInterval(this.timer)
  process.emit('mailmoat-haraka-fixture', -1)
}
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Counter', String(this.cfg.n))
  next()
}
`;
    let live = 0;
    const count = (d: number) => { live += d; };
    process.on('mailmoat-haraka-fixture', count);
    try {
      const dir = folder({
        plugins: 'counter\n',
        code: { counter: COUNTER_PLUGIN, refuser: 'exports.hook_init_master = function (next) { next(DENY, \'not today\') }\n', broken: 'exports.register = function () {\n' },
        config: { 'counter.json': '{ "n": 1 }' },
      });
      const list = (text: string) => writeFileSync(path.join(dir, 'config', 'plugins'), text);
      const file = configFile(dir);

      // refused at start: nothing stays behind
      list('counter\nrefuser\n');
      await assert.rejects(start(file), /plugin haraka cannot start: haraka plugin refuser refused init_master: not today/);
      assert.equal(live, 0, 'a refused start left plugins running');

      list('counter\n');
      const { gateway, logs } = await start(file);
      assert.equal(live, 1);
      assert.equal(header((await send(gateway)).relayed, 'X-Counter'), '1');

      list('counter\nno_such_thing\n');
      assert.equal(await gateway.reload(), false);
      assert.ok(logs.some((l) => /Loading plugin no_such_thing failed: No plugin with this name found/.test(String(l.errors))));
      assert.equal(live, 1, 'an unknown plugin: the plugins loaded before it stayed up');

      list('counter\nbroken\n');
      assert.equal(await gateway.reload(), false);
      assert.equal(live, 1, 'a plugin that does not compile: the plugins registered before it stayed up');

      list('counter\nrefuser\n');
      assert.equal(await gateway.reload(), false);
      assert.ok(logs.some((l) => /refuser refused init_master/.test(String(l.errors))));
      assert.equal(live, 1, 'init_master refused: the new entry\'s plugins stayed up');

      list('counter\n');
      writeFileSync(path.join(dir, 'config', 'counter.json'), '{ "n": ');
      assert.equal(await gateway.reload(), false);
      assert.ok(logs.some((l) => /counter\.json/.test(String(l.errors))));
      assert.equal(live, 1, 'an unparsable file: the new entry\'s plugins stayed up');

      // the running entry still works, on the file's last good contents
      assert.equal(header((await send(gateway)).relayed, 'X-Counter'), '1');
      writeFileSync(path.join(dir, 'config', 'counter.json'), '{ "n": 2 }');
      assert.equal(await gateway.reload(), true);
      assert.equal(header((await send(gateway)).relayed, 'X-Counter'), '2');
      // the entry the reload replaced closes once no hook runs in it any more
      await waitFor('the replaced entry\'s plugins to close', () => live <= 1 || undefined, 5_000);
      assert.equal(live, 1);
      await bed.stop(gateway);
      assert.equal(live, 0);
    } finally {
      process.off('mailmoat-haraka-fixture', count);
    }
  });

  it('a reload right after an edit of config/plugins and of a plugin\'s ini runs the new list with the new values', async () => {
    const dir = folder({ plugins: 'word_a\n', code: { word_a: WORD_PLUGIN('word_a'), word_b: WORD_PLUGIN('word_b') }, config: { 'word_a.ini': 'word=one\n', 'word_b.ini': 'word=bee\n' } });
    const { gateway } = await start(configFile(dir));
    const first = await send(gateway);
    assert.equal(header(first.relayed, 'X-Word-word_a'), 'one');
    assert.equal(header(first.relayed, 'X-Word-word_b'), undefined);

    // no pause: `systemctl reload` right after saving the files
    writeFileSync(path.join(dir, 'config', 'word_a.ini'), 'word=two\n');
    writeFileSync(path.join(dir, 'config', 'plugins'), 'word_a\nword_b\n');
    assert.equal(await gateway.reload(), true);
    const second = await send(gateway);
    assert.equal(header(second.relayed, 'X-Word-word_a'), 'two');
    assert.equal(header(second.relayed, 'X-Word-word_b'), 'bee');

    writeFileSync(path.join(dir, 'config', 'plugins'), 'word_b\n');
    assert.equal(await gateway.reload(), true);
    const third = await send(gateway);
    assert.equal(header(third.relayed, 'X-Word-word_a'), undefined);
    assert.equal(header(third.relayed, 'X-Word-word_b'), 'bee');
  });
});
