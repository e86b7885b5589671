// SIGHUP reloads: a burst of signals is one or two reloads, not one each; a reload renews the certificate and the
// listeners' SIZE, says which changed keys wait for a restart, refuses an unusable certificate; a SIGHUP while the
// gateway stops does not end it half-way.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { createGateway } from '../../../core/gateway.ts';
import { loadConfig } from '../../../core/config/load.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const CORE = path.resolve(import.meta.dirname, '..', '..', '..', 'core', 'index.ts');

/** A plugin noting each instance it starts and each close, one line each; a close takes `closeMs`. */
function recorder(dir: string, closeMs: number, createMs = 100): string {
  const file = path.join(dir, 'recorder.ts');
  writeFileSync(file, `import { appendFileSync } from 'node:fs';
import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: 'recorder', description: 'notes instances', configSchema: s.object({ notes: s.string() }), symbols: {},
  async create(cfg) {
    appendFileSync(cfg.notes, 'start\\n');
    await new Promise((r) => setTimeout(r, ${createMs}));
    return { hooks: {}, async close() { await new Promise((r) => setTimeout(r, ${closeMs})); appendFileSync(cfg.notes, 'close\\n'); } };
  },
});
`);
  return file;
}

function certPair(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

function servedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.once('error', reject);
  });
}

describe('gateway reloads', function () {
  this.timeout(30_000);
  let dir: string;
  let end: () => void;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-reload-'));
    end = holdUntilExit({ dir });
  });
  afterEach(() => end());

  it('a burst of SIGHUPs while a reload runs is one more reload, and each reload builds its plugins once', async () => {
    const notes = path.join(dir, 'notes');
    // A reload takes 3 s here (the plugin's start), longer than the burst takes to send even on a loaded machine.
    const gw: SpawnedGateway = await spawnGateway({ dataDir: dir, config: { plugins: [{ name: 'recorder', module: recorder(dir, 0, 3000), notes }] } });
    try {
      const reloads = () => gw.output.join('').split('"config reloaded"').length - 1;
      const sent = Date.now();
      // Spaced out, as a loop in a shell sends them: signals sent all at once reach the process as one.
      for (let i = 0; i < 10; i++) {
        gw.child.kill('SIGHUP');
        await new Promise((r) => setTimeout(r, 20));
      }
      const burst = Date.now() - sent;
      await waitUntil('a reload', () => reloads() >= 1);
      await new Promise((r) => setTimeout(r, 4000));
      const starts = readFileSync(notes, 'utf8').split('\n').filter((l) => l === 'start').length;
      // The first signal starts a reload; the other nine, arriving while it runs, make one more after it.
      assert.ok(burst < 3000, `the burst took ${burst} ms: too long to fall within one reload`);
      assert.ok(starts >= 2 && starts <= 3, `plugin sets built: ${starts} (the first start, then the reloads)`);
      assert.equal(reloads(), starts - 1, 'each reload built its plugins once');
      assert.equal(gw.child.exitCode, null, 'still running');
    } finally { await gw.kill(); }
  });

  it('a SIGHUP while the gateway stops is ignored, and the stop completes', async () => {
    const notes = path.join(dir, 'notes');
    const gw = await spawnGateway({ dataDir: dir, config: { plugins: [{ name: 'recorder', module: recorder(dir, 1000), notes }] } });
    try {
      gw.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      gw.child.kill('SIGHUP');
      const code = await gw.exited;
      assert.equal(gw.child.signalCode, null, `ended by ${gw.child.signalCode}`);
      assert.equal(code, 0);
      assert.match(gw.output.join(''), /"mailmoat stopped"/);
      assert.match(readFileSync(notes, 'utf8'), /close/, 'the plugin was closed');
    } finally { await gw.kill(); }
  });

  it('refuses a file whose HELO pattern or address list cannot be compiled, keeping every part of the running config', async () => {
    const file = path.join(dir, 'mailmoat.yaml');
    const base = { server: { listen: ['127.0.0.1:0'] }, data_dir: path.join(dir, 'data'), domains: ['one.example'], log: { level: 'info', format: 'json' } };
    writeFileSync(file, stringify(base));
    const logs: LogFields[] = [];
    const gateway = await createGateway({ config: (await loadConfig({ file })).config, configFile: file, logSink: { write() {} }, onLog: (r) => { logs.push(r); } });
    try {
      const running = gateway.runtime.config;
      const policy = gateway.runtime.policy;
      // These passed validation and threw while the reload swapped things in: new config and plugins, old policy.
      for (const access of [{ helo_deny: ['(unclosed'] }, { deny_ips: ['999.1.1.1'] }]) {
        writeFileSync(file, stringify({ ...base, domains: ['two.example'], access }));
        assert.equal(await gateway.reload(), false);
        assert.equal(gateway.runtime.config, running, 'the running config is kept whole');
        assert.equal(gateway.runtime.policy, policy);
      }
      const refusals = logs.filter((l) => l.msg === 'config reload refused: the running config is kept').map((l) => String(l.errors));
      assert.equal(refusals.length, 2);
      assert.match(refusals[0], /access\.helo_deny\[0\]/);
      assert.match(refusals[1], /access\.deny_ips\[0\]/);
      const c = await SmtpDialog.connect(gateway.port());
      await c.read();
      await c.cmd('EHLO client.test');
      await c.cmd('MAIL FROM:<a@client.test>');
      assert.equal((await c.cmd('RCPT TO:<x@one.example>')).code, 250, 'the old domains still apply');
      await c.quit();
    } finally { await gateway.stop(); }
  });

  it('renews the certificate and SIZE on reload, names the keys left for a restart, and refuses an unusable certificate', async () => {
    const first = certPair(dir, 'first');
    const second = certPair(dir, 'second');
    const file = path.join(dir, 'mailmoat.yaml');
    const base = {
      server: { hostname: 'mx.test.example', listen: ['127.0.0.1:0'], tls_listen: ['127.0.0.1:0'], tls: first },
      data_dir: path.join(dir, 'data'), limits: { max_message_size: '1MB' }, log: { level: 'info', format: 'json' },
    };
    writeFileSync(file, stringify(base));
    const logs: LogFields[] = [];
    const gateway = await createGateway({ config: (await loadConfig({ file })).config, configFile: file, logSink: { write() {} }, onLog: (r) => { logs.push(r); } });
    try {
      assert.equal(await servedName(gateway.port('smtps')), 'first');
      writeFileSync(file, stringify({ ...base, server: { ...base.server, listen: ['127.0.0.1:1'], tls: second }, data_dir: path.join(dir, 'elsewhere'), limits: { max_message_size: '2MB' } }));
      assert.equal(await gateway.reload(), true);
      assert.equal(await servedName(gateway.port('smtps')), 'second');
      const c = await SmtpDialog.connect(gateway.port());
      await c.read();
      const ehlo = await c.cmd('EHLO client.test');
      await c.quit();
      assert.ok(ehlo.lines.some((l) => l.includes(`SIZE ${2 * 1024 * 1024}`)), ehlo.lines.join('|'));
      const warned = logs.find((l) => l.msg === 'config reload: these keys change only on restart and keep their running values');
      assert.deepEqual(warned?.keys, ['server.listen', 'data_dir']);
      assert.equal(gateway.runtime.config.data_dir, path.join(dir, 'data'), 'the running data_dir is the one in use');

      writeFileSync(file, stringify({ ...base, server: { ...base.server, tls: { cert: first.cert, key: second.key } } }));
      assert.equal(await gateway.reload(), false);
      assert.equal(await servedName(gateway.port('smtps')), 'second', 'the running certificate is kept');
      assert.ok(logs.some((l) => l.msg === 'config reload refused: the running config is kept' && /mismatch/.test(String(l.errors))));
    } finally { await gateway.stop(); }
  });
});
