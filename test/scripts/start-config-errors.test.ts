// A `moat start` whose config cannot be used says why on stderr, as a human reads it, and, with JSON logs (the default
// when stdout is not a terminal), as one `start failed` line on stdout for a log shipper, which reads only that.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

interface Ran { code: number | null; stdout: string; stderr: string }

/** `moat start` with stdout a pipe, as under systemd or a container runtime. */
function start(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOAT, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('moat start: a config it cannot use', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-start-config-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function configFile(name: string, yaml: string): string {
    const file = path.join(dir, name);
    writeFileSync(file, `data_dir: ./data\nserver:\n  listen: ['127.0.0.1:0']\n${yaml}`);
    return file;
  }

  const cases = [
    { what: 'a file that is not YAML', args: () => ['--config', configFile('bad.yaml', 'domains: [a.example\n')], reason: /is not valid YAML/ },
    { what: 'an unknown key', args: () => ['--config', configFile('unknown.yaml', 'no_such_key: 1\n')], reason: /no_such_key/ },
    { what: 'a bad value', args: () => ['--config', configFile('value.yaml', 'limits:\n  max_connections: lots\n')], reason: /limits\.max_connections/ },
    { what: 'a missing file', args: () => ['--config', path.join(dir, 'gone.yaml')], reason: /cannot read the file/ },
  ];
  for (const { what, args, reason } of cases) {
    it(`exits 1 for ${what}: the reason on stderr, and one JSON start failed line on stdout`, async () => {
      const r = await start(args());
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, reason);
      assert.doesNotMatch(r.stderr, /^\{/m, 'stderr stays readable text');
      const lines = r.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stdout);
      const line = JSON.parse(lines[0]) as { level: string; msg: string; error: string; time: string };
      assert.equal(line.level, 'error');
      assert.equal(line.msg, 'start failed');
      assert.match(line.error, reason);
      assert.ok(!Number.isNaN(Date.parse(line.time)));
    });
  }

  it('writes no JSON line when the log is text: by the file, or by --set for a file that cannot be read', async () => {
    const byFile = await start(['--config', configFile('text.yaml', 'log:\n  format: text\nno_such_key: 1\n')]);
    const bySet = await start(['--config', path.join(dir, 'gone.yaml'), '--set', 'log.format=text']);
    for (const r of [byFile, bySet]) {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no_such_key|cannot read the file/);
      assert.equal(r.stdout, '');
    }
  });
});
