// A config file that holds no settings (empty, only comments, `~`, `{}`) is refused by the start, check-config and a
// reload, naming the file: it was taken as the defaults, and a reload dropped the domains and refused all mail as relaying.
// The embedded default, with no config file at all, still starts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, readConfig } from '../../../core/config/load.ts';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

interface Ran { code: number; stdout: string; stderr: string }

function moat(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd, env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** RCPT's reply code for a recipient of the gateway's own domain. */
async function rcptCode(port: number, rcpt: string): Promise<number> {
  const d = await SmtpDialog.connect(port);
  await d.read();
  await d.cmd('EHLO client.test');
  await d.cmd('MAIL FROM:<sender@client.example>');
  const code = (await d.cmd(`RCPT TO:<${rcpt}>`)).code;
  await d.quit();
  return code;
}

const EMPTY: Array<[string, string]> = [
  ['an empty file', ''],
  ['only comments', '# mailmoat.yaml\n# domains: [example.com]\n'],
  ['a YAML null', '~\n'],
  ['an empty document', '---\n'],
  ['an empty mapping', '{}\n'],
];

describe('a config file that holds no settings', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-empty-config-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [what, text] of EMPTY) {
    it(`is refused when it is ${what}, naming the file and how to run on the embedded default`, async () => {
      const file = path.join(dir, 'mailmoat.yaml');
      writeFileSync(file, text);
      await assert.rejects(loadConfig({ file }), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.file, file);
        assert.deepEqual(e.issues.map((i) => i.path), ['']);
        assert.match(e.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 1 error`));
        assert.match(e.issues[0].message, /holds no settings/);
        assert.match(e.issues[0].message, /start with no config file: no --config, no \$MAILMOAT_CONFIG, no mailmoat\.yaml/);
        return true;
      });
    });
  }

  it('still yields its data_dir, so that `moat reload` finds the gateway to refuse it', async () => {
    const file = path.join(dir, 'emptied.yaml');
    writeFileSync(file, '');
    const r = await readConfig({ file });
    assert.equal(r.config?.data_dir, path.join(dir, 'data'));
    assert.match(r.issues[0].message, /holds no settings/);
  });

  it('is listed with the errors of --set overrides', async () => {
    const file = path.join(dir, 'emptied.yaml');
    writeFileSync(file, '\n');
    const r = await readConfig({ file, overrides: ['plugins.3.name=spf'] });
    assert.deepEqual(r.issues.map((i) => i.path), ['', 'plugins.3']);
  });

  it('makes check-config and the start exit 1 with the error', async () => {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, '# nothing yet\n');
    const check = await moat(['check-config', '--config', file], dir);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stderr, /mailmoat\.yaml: 1 error\(s\)\n {2}\(root\): holds no settings/);
    assert.doesNotMatch(check.stdout, /OK/);
    // As ./mailmoat.yaml, found without --config, the start refuses it too, before listening anywhere.
    const start = await moat(['start'], dir, { ...process.env, MAILMOAT_CONFIG: '' });
    assert.equal(start.code, 1, start.stdout + start.stderr);
    assert.match(start.stderr, /mailmoat\.yaml: 1 error\(s\)\n {2}\(root\): holds no settings/);
  });

  it('leaves the embedded default (no config file at all) as it was', async () => {
    const bare = mkdtempSync(path.join(dir, 'bare-'));
    const env = { ...process.env, MAILMOAT_CONFIG: '' };
    const check = await moat(['check-config'], bare, env);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(check.stdout, 'embedded default config: OK\n');
    const embedded = await loadConfig({ embedded: true });
    assert.deepEqual(embedded.config.domains, ['localhost']);
  });

  describe('given to a running gateway', () => {
    let gw: SpawnedGateway;
    before(async () => { gw = await spawnGateway({ config: { domains: ['example.com'] } }); });
    after(async () => { await gw?.kill(); });

    it('is refused by `moat reload` and SIGHUP, and the gateway keeps taking mail for its domains', async () => {
      assert.equal(await rcptCode(gw.port, 'user@example.com'), 250);
      writeFileSync(gw.configFile, '');
      // The emptied file no longer names data_dir; the command line does, as an admin would give it.
      const r = await moat(['reload', '--config', gw.configFile, '--set', `data_dir=${gw.dataDir}`], dir);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^refused: .*mailmoat\.yaml was not applied; the gateway keeps its running config\n {2}\(root\): holds no settings/);
      const mark = gw.output.join('').length;
      gw.child.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      while (!gw.output.join('').slice(mark).includes('config reload refused')) {
        assert.ok(Date.now() < deadline, 'no refusal logged after SIGHUP');
        await new Promise((res) => setTimeout(res, 25));
      }
      assert.match(gw.output.join('').slice(mark), /holds no settings/);
      assert.equal(await rcptCode(gw.port, 'user@example.com'), 250, 'the running config, with its domain, is kept');
    });
  });
});
