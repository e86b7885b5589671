// A `moat start` refused because a gateway already runs on its data_dir writes nothing there: the running gateway's
// self-signed certificate keeps its bytes, time and owner, though the second config names another hostname, and the
// running gateway still reloads. Its log says nothing of a certificate or a state store, and `start failed` comes last.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { spawnGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { holdUntilExit } from '../helpers/leftovers.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

interface Ran { code: number | null; stdout: string; stderr: string }

/** Runs `moat …` to its end, stdout a pipe as under a service manager or a container runtime. */
function moat(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOAT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function moatReload(configFile: string): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, 'reload', '--config', configFile], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** What must not change in a file the running gateway owns: its bytes, its time, its owner and mode. */
function fingerprint(file: string): { bytes: string; mtimeMs: number; uid: number; gid: number; mode: number } {
  const st = statSync(file);
  return { bytes: readFileSync(file, 'base64'), mtimeMs: st.mtimeMs, uid: st.uid, gid: st.gid, mode: st.mode };
}

describe('moat start on a data_dir a gateway runs on', function () {
  this.timeout(60_000);

  it('is refused with exit 1 before it writes anything there, and the running gateway still reloads', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-refused-'));
    const end = holdUntilExit({ dir: dataDir });
    const gw = await spawnGateway({ dataDir });
    try {
      const tlsFiles = ['self-signed.crt', 'self-signed.key'].map((f) => path.join(dataDir, 'tls', f));
      const before = tlsFiles.map(fingerprint);
      const secondDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-second-'));
      const endSecond = holdUntilExit({ dir: secondDir });
      const secondConfig = path.join(secondDir, 'mailmoat.yaml');
      try {
        writeFileSync(secondConfig, stringify({
          server: { hostname: 'another-name.test.example', listen: [`127.0.0.1:${await freePort()}`] },
          domains: ['example.com'], data_dir: dataDir, log: { level: 'debug', format: 'json' },
        }));
        const second = await moat(['start', '--config', secondConfig]);
        assert.equal(second.code, 1, second.stderr);
        assert.match(second.stderr, /^moat start: another gateway is already running on this data_dir/m);
        const lines = second.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; level: string; error?: string });
        assert.ok(!lines.some((l) => /self-signed|state store/.test(l.msg)), `the refused start touched the certificate or the store:\n${second.stdout}`);
        const last = lines.at(-1)!;
        assert.equal(last.msg, 'start failed', second.stdout);
        assert.equal(last.level, 'error');
        assert.match(String(last.error), /another gateway is already running on this data_dir/);
      } finally { endSecond(); }

      assert.deepEqual(tlsFiles.map(fingerprint), before, 'the running gateway\'s certificate and key are as they were');
      const reloaded = await moatReload(gw.configFile);
      assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
      assert.match(reloaded.stdout, /reloaded/i);
      assert.equal(gw.child.exitCode, null, 'the first gateway runs on');
    } finally {
      await gw.kill();
      end();
    }
  });
});
