// `moat reload` against a real gateway in a child process, as an admin runs it after editing the config file: what was
// applied is printed (exit 0), a file the gateway refuses is printed with its errors and the running config keeps
// taking mail (exit 1), no gateway is exit 2; the --set overrides of the gateway's start survive every reload.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { requestConfigReload } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { freePort } from '../helpers/ports.ts';
import { holdUntilExit, endChild } from '../helpers/leftovers.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { waitUntil } from '../helpers/wait-for.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');
const CORE = path.resolve(import.meta.dirname, '..', '..', 'core', 'index.ts');

interface Ran { code: number; stdout: string; stderr: string }

function moat(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd: os.tmpdir() }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** The reply codes of one transaction to `rcpt`, and the greeting's text. */
async function transaction(port: number, rcpt: string): Promise<{ greeting: string; rcpt: number; data?: number }> {
  const d = await SmtpDialog.connect(port);
  const greeting = (await d.read()).text;
  assert.equal((await d.cmd('EHLO client.test')).code, 250);
  assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
  const r = (await d.cmd(`RCPT TO:<${rcpt}>`)).code;
  const data = r === 250 ? (await d.data(`From: sender@client.example\r\nTo: ${rcpt}\r\nSubject: reload\r\n\r\nhello\r\n`)).code : undefined;
  await d.quit();
  return { greeting, rcpt: r, data };
}

describe('moat reload', function () {
  this.timeout(60_000);
  let dir: string;
  let file: string;
  let port: number;
  let base: Record<string, unknown>;
  let child: ChildProcess | undefined;
  let output: string[];
  let end: () => void;
  let endChildHold: () => void;

  // Started as an admin starts it, with a --set that the file contradicts: a reload must keep the override.
  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-reload-cli-'));
    end = holdUntilExit({ dir });
    port = await freePort();
    file = path.join(dir, 'mailmoat.yaml');
    base = {
      server: { hostname: 'from-file.example', listen: [`127.0.0.1:${port}`] },
      domains: ['one.example'], data_dir: './data', log: { level: 'info', format: 'json' },
    };
    writeFileSync(file, stringify(base));
    output = [];
    const started = spawn(process.execPath, [MOAT, 'start', '--config', file, '--set', 'server.hostname=from-set.example'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    endChildHold = holdUntilExit({ child: started });
    started.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    started.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    await waitUntil('the start', () => output.join('').includes('"mailmoat started"') || started.exitCode !== null, 20_000);
    assert.equal(started.exitCode, null, output.join(''));
  });

  afterEach(async () => {
    if (child) await endChild(child);
    child = undefined;
    endChildHold();
    end();
  });

  it('applies a valid change and prints what changed, what waits for a restart, and keeps the --set of the start', async () => {
    assert.equal((await transaction(port, 'someone@two.example')).rcpt, 554, 'two.example is not local yet');
    writeFileSync(file, stringify({
      ...base, domains: ['one.example', 'two.example'], limits: { max_message_size: '5MB' },
      server: { ...(base.server as object), listen: [`127.0.0.1:${port}`, '127.0.0.1:0'] },
    }));
    const r = await moat(['reload', '--config', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^reloaded ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(r.stdout, /^ {2}changed: domains, limits\.max_message_size$/m, 'the hostname stays the --set one, so it did not change');
    assert.match(r.stdout, /^ {2}kept until restart: server\.listen /m);
    const after = await transaction(port, 'someone@two.example');
    assert.equal(after.rcpt, 250, 'the new domain applies');
    assert.equal(after.data, 250);
    assert.match(after.greeting, /^from-set\.example /, 'the --set of the start survives the reload');

    // A --set on the reload itself finds the gateway, and is said not to apply.
    const withSet = await moat(['reload', '--config', file, '--set', 'limits.max_recipients=3']);
    assert.equal(withSet.code, 0, withSet.stdout + withSet.stderr);
    assert.match(withSet.stderr, /note: --set limits\.max_recipients was not applied: --set here only finds the gateway/);
    // Only a restart-only key differs from the running config: nothing changed that applies now, one kept until restart.
    assert.match(withSet.stdout, /^ {2}changed: nothing that applies now \(/m);
    assert.match(withSet.stdout, /^ {2}kept until restart: server\.listen /m);

    // The same reload by SIGHUP keeps the override too.
    const mark = output.join('').length;
    child!.kill('SIGHUP');
    await waitUntil('the SIGHUP reload', () => output.join('').slice(mark).includes('"config reloaded"'), 20_000);
    assert.match((await transaction(port, 'someone@one.example')).greeting, /^from-set\.example /);
  });

  it('says which plugin a reload disabled and why, not only the plugins left', async () => {
    const bad = path.join(dir, 'bad.tab');
    writeFileSync(bad, 'garbage line\n');
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'bayes', dictionary: bad }] }));
    const r = await moat(['reload', '--config', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}plugins: \(none\)$/m);
    assert.match(r.stdout, /^ {2}disabled: bayes: .*bad\.tab/m);
    writeFileSync(file, stringify(base));
    assert.equal((await moat(['reload', '--config', file])).code, 0);
  });

  it('refuses a reload that would disable a running plugin, which keeps running; one disabled before may stay so', async () => {
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'bayes' }] }));
    const on = await moat(['reload', '--config', file]);
    assert.equal(on.code, 0, on.stdout + on.stderr);
    assert.match(on.stdout, /^ {2}plugins: bayes$/m);

    const bad = path.join(dir, 'bad.tab');
    writeFileSync(bad, 'garbage line\n');
    const mark = output.join('').length;
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'bayes', dictionary: bad }] }));
    const r = await moat(['reload', '--config', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^refused: .*was not applied; the gateway keeps its running config$/m);
    assert.match(r.stderr, /^ {2}plugins\[0\]: plugin bayes runs now and this config would disable it: .*bad\.tab/m);
    await waitUntil('the refusal in the log', () => output.join('').slice(mark).includes('"config reload refused: a running plugin would be disabled; the running config is kept"'), 20_000);

    // The running chain still judges mail: Bayes's header and symbols are on the next message.
    assert.equal((await transaction(port, 'someone@one.example')).data, 250);
    const delivered = path.join(dir, 'data', 'delivered');
    await waitUntil('the delivery', () => existsSync(delivered) && readdirSync(delivered).some((f) => f.endsWith('.eml')), 20_000);
    const eml = readFileSync(path.join(delivered, readdirSync(delivered).find((f) => f.endsWith('.eml'))!), 'utf8');
    assert.match(eml, /^X-Mailmoat-Bayes: /m, 'bayes still runs');

    // Without bayes, then with the damaged dictionary: not running, so it is disabled as at start, and stays so.
    writeFileSync(file, stringify(base));
    assert.equal((await moat(['reload', '--config', file])).code, 0);
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'bayes', dictionary: bad }] }));
    for (let i = 0; i < 2; i++) {
      const off = await moat(['reload', '--config', file]);
      assert.equal(off.code, 0, off.stdout + off.stderr);
      assert.match(off.stdout, /^ {2}disabled: bayes: .*bad\.tab/m);
    }
  });

  it('prints what plugins warned about while the reload created them', async () => {
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'user-lists' }] }));
    const r = await moat(['reload', '--config', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}warning: plugin user-lists: allow_needs_auth: no spf plugin in the chain, so no allow entry can count for an envelope sender/m);
    assert.match(r.stdout, /^ {2}warning: plugin user-lists: allow_needs_auth: no dmarc plugin before user-lists in the chain/m);
    // Said by the plugin at each create, so at each reload; and not with a chain it has no reason to warn about.
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'user-lists', allow_needs_auth: false }] }));
    const quiet = await moat(['reload', '--config', file]);
    assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);
    assert.doesNotMatch(quiet.stdout, /warning/);
  });

  it('says a plugin\'s code changed only while its content differs from the code loaded, not after a restore', async () => {
    const module = path.join(dir, 'edited.ts');
    const helper = path.join(dir, 'edited-helper.ts');
    const original = `import { definePlugin, s } from ${JSON.stringify(CORE)};
import { nothing } from './edited-helper.ts';
export default definePlugin({ name: 'edited', description: 'edited', configSchema: s.object({}), create: () => ({ hooks: nothing }) });
`;
    writeFileSync(helper, 'export const nothing = {};\n');
    writeFileSync(module, original);
    writeFileSync(file, stringify({ ...base, plugins: [{ name: 'edited', module }] }));
    const reload = async () => {
      const r = await moat(['reload', '--config', file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      return r.stdout;
    };
    assert.doesNotMatch(await reload(), /warning/);
    // A checkout that rewrites the same content changes the file's time, not its code.
    const later = new Date(Date.now() + 5000);
    utimesSync(module, later, later);
    assert.doesNotMatch(await reload(), /warning/);
    writeFileSync(module, original + '// edited\n');
    assert.ok((await reload()).includes(`  warning: plugin edited: its code changed since it was loaded (${module})`));
    writeFileSync(module, original);
    assert.doesNotMatch(await reload(), /warning/, 'restored');
    // A file the module imports from its folder is its code too.
    writeFileSync(helper, 'export const nothing = { };\n');
    assert.ok((await reload()).includes(`  warning: plugin edited: its code changed since it was loaded (${helper})`));
  });

  it('names the entry and the option when a plugin refuses its options at reload', async () => {
    writeFileSync(file, stringify({ ...base, domains: ['one.example', 'two.example'], plugins: [{ name: 'spf' }, { name: 'greylist', delay: '5m', retry_window: '1m' }] }));
    const r = await moat(['reload', '--config', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^ {2}plugins\[1\]\.retry_window: plugin greylist cannot start: must be longer than delay, or no retry could ever pass$/m);
    assert.equal((await transaction(port, 'someone@two.example')).rcpt, 554, 'nothing of the refused file applies');
  });

  it('refuses an invalid file, printing its errors, and the running config keeps taking mail', async () => {
    writeFileSync(file, stringify({ ...base, domains: ['one.example', 'two.example'] }));
    assert.equal((await moat(['reload', '--config', file])).code, 0);

    writeFileSync(file, stringify({ ...base, domains: ['three.example'], limits: { max_message_size: 'lots' }, plugins: [{ name: 'no-such-plugin' }] }));
    const r = await moat(['reload', '--config', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^refused: .*mailmoat\.yaml was not applied; the gateway keeps its running config$/m);
    assert.match(r.stderr, /^ {2}limits\.max_message_size: /m);
    assert.match(r.stderr, /^ {2}plugins.*no-such-plugin/m);

    const kept = await transaction(port, 'someone@two.example');
    assert.equal(kept.rcpt, 250, 'the running config (with two.example) is kept');
    assert.equal(kept.data, 250, 'a message is still accepted');
    assert.equal((await transaction(port, 'someone@three.example')).rcpt, 554, 'nothing of the refused file applies');

    // A file that is no YAML at all: found through --set data_dir, and the gateway says why it refuses it.
    writeFileSync(file, 'domains: [one.example\n  data_dir: {\n');
    const broken = await moat(['reload', '--config', file, '--set', `data_dir=${path.join(dir, 'data')}`]);
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stderr, /^refused: /m);
    assert.match(broken.stderr, /is not valid YAML/);
    // Without it, the data_dir the broken file leaves (the default, beside it) leads to the gateway all the same,
    // which refuses the file itself: its log and config_last_reload_success say so, as after a SIGHUP.
    const guessed = await moat(['reload', '--config', file]);
    assert.equal(guessed.code, 1, guessed.stdout + guessed.stderr);
    assert.match(guessed.stderr, /^refused: /m);
    assert.match(guessed.stderr, /is not valid YAML/);
    // Beside a broken file where no gateway runs, the command says it cannot tell, rather than claiming there is none.
    const stray = path.join(dir, 'stray.yaml');
    writeFileSync(stray, `data_dir: ./elsewhere\n${readFileSync(file, 'utf8')}`);
    const lost = await moat(['reload', '--config', stray]);
    assert.equal(lost.code, 1, lost.stdout + lost.stderr);
    assert.match(lost.stderr, /cannot tell which data_dir the gateway runs on, so it was not asked: .*is not valid YAML/);
    assert.equal((await transaction(port, 'someone@one.example')).data, 250);
  });

  it('a burst of reloads gets one answer each, and is one more reload after the one under way, not one each', async () => {
    // A plugin whose start takes 300 ms: the whole burst arrives while the first reload runs.
    const slow = path.join(dir, 'slow.ts');
    writeFileSync(slow, `import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: 'slow', description: 'starts slowly', configSchema: s.object({}), symbols: {},
  async create() { await new Promise((r) => setTimeout(r, 300)); return { hooks: {} }; },
});
`);
    writeFileSync(file, stringify({ ...base, domains: ['one.example', 'two.example'], plugins: [{ name: 'slow', module: slow }] }));
    const mark = output.join('').length;
    const sock = socketPath(path.join(dir, 'data'));
    const reports = await Promise.all(Array.from({ length: 6 }, () => requestConfigReload(sock, 30_000)));
    for (const r of reports) assert.equal(r.reloaded, true, JSON.stringify(r));
    assert.ok(reports.some((r) => r.reloaded && r.changed.includes('domains')), JSON.stringify(reports));
    await new Promise((r) => setTimeout(r, 200));
    const reloads = output.join('').slice(mark).split('"config reloaded"').length - 1;
    assert.ok(reloads >= 1 && reloads <= 2, `reloads run for 6 requests: ${reloads}`);
    assert.equal((await transaction(port, 'someone@two.example')).rcpt, 250);
  });

  it('says so and exits 2 when no gateway runs on the data_dir', async () => {
    const other = path.join(dir, 'other.yaml');
    writeFileSync(other, stringify({ ...base, data_dir: './elsewhere' }));
    const r = await moat(['reload', '--config', other]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`no gateway is running on ${path.join(dir, 'elsewhere')} .*nothing was reloaded`));
    assert.equal(r.stdout, '');

    // A socket left behind by a gateway that was killed is no gateway either.
    const killed = child!;
    child = undefined;
    killed.kill('SIGKILL');
    await new Promise((r) => killed.once('exit', r));
    assert.ok(existsSync(socketPath(path.join(dir, 'data'))), 'the killed gateway left its socket file');
    const stale = await moat(['reload', '--config', file]);
    assert.equal(stale.code, 2, stale.stdout + stale.stderr);
    assert.match(stale.stderr, /no gateway is running on /);
  });
});

describe('a reload of a gateway started on the embedded default', function () {
  this.timeout(60_000);
  it('reloads the embedded default, not a mailmoat.yaml made in its folder since', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-reload-embedded-'));
    const end = holdUntilExit({ dir });
    const port = await freePort();
    const env = { ...process.env };
    delete env.MAILMOAT_CONFIG;
    const started = spawn(process.execPath, [MOAT, 'start', '--set', `server.listen=[127.0.0.1:${port}]`, '--set', 'data_dir=./data'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const endHold = holdUntilExit({ child: started });
    const output: string[] = [];
    started.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    started.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    try {
      await waitUntil('the start', () => output.join('').includes('"mailmoat started"') || started.exitCode !== null, 20_000);
      assert.equal((await transaction(port, 'someone@localhost')).rcpt, 250);
      // A file the gateway never read: picked up by the next start, not by a reload.
      writeFileSync(path.join(dir, 'mailmoat.yaml'), stringify({ domains: ['elsewhere.example'], server: { listen: [`127.0.0.1:${port}`] }, data_dir: './data' }));
      const mark = output.join('').length;
      started.kill('SIGHUP');
      await waitUntil('the reload', () => output.join('').slice(mark).includes('"config reloaded"'), 20_000);
      assert.equal((await transaction(port, 'someone@localhost')).rcpt, 250, 'still the embedded default');
      assert.equal((await transaction(port, 'someone@elsewhere.example')).rcpt, 554);
    } finally {
      await endChild(started);
      endHold();
      end();
    }
  });
});
