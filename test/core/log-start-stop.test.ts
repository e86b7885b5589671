// The log of a real `moat start` says when a start failed (one JSON error line beside the stderr text, exit 1) and
// when a stop began and why (`stopping`, with the signal), at once, not after the sessions it waits for.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { spawnGateway } from '../helpers/gateway.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait-for.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

type Line = Record<string, unknown> & { msg: string; level: string; time: string };
const jsonLines = (out: string): Line[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

/** Runs `moat start` on `config` to its end: its exit code, stdout and stderr apart. */
async function startThatFails(config: Record<string, unknown>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-failed-start-'));
  try {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, stringify(config));
    const child = spawn(process.execPath, [MOAT, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    return { code, stdout, stderr };
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const base = (dataDir: string, port: number) => ({
  server: { hostname: 'mx.test.example', listen: [`127.0.0.1:${port}`] }, domains: ['example.com'], data_dir: dataDir, log: { level: 'info', format: 'json' },
});

describe('log: a failed start and the start of a stop', function () {
  this.timeout(60_000);

  it('logs a start refused for a data_dir in use, or a port in use, as one JSON error line, exit 1', async () => {
    const gw = await spawnGateway();
    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-other-'));
    try {
      const cases = [
        { config: base(gw.dataDir, await freePort()), error: /another gateway is already running on this data_dir/ },
        { config: base(otherDir, gw.port), error: /EADDRINUSE|address already in use/i },
      ];
      for (const { config, error } of cases) {
        const r = await startThatFails(config);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /^moat start: /m, 'the human line stays on stderr');
        assert.match(r.stderr, error);
        const failed = jsonLines(r.stdout).filter((l) => l.level === 'error');
        assert.equal(failed.length, 1, r.stdout);
        assert.equal(failed[0].msg, 'start failed');
        assert.match(String(failed[0].error), error);
      }
    } finally {
      await gw.kill();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('logs `stopping` with the signal at once, while a message still arriving holds the stop', async () => {
    const gw = await spawnGateway();
    const c = await SmtpDialog.connect(gw.port);
    try {
      await c.hello();
      await c.cmd('MAIL FROM:<a@client.example>');
      await c.cmd('RCPT TO:<user@example.com>');
      assert.equal((await c.cmd('DATA')).code, 354);
      const signalled = Date.now();
      gw.child.kill('SIGTERM');
      const line = await waitFor('the stopping line after SIGTERM', () => jsonLines(gw.output.join('')).find((l) => l.msg === 'stopping'), 5000);
      assert.equal(line.reason, 'SIGTERM');
      assert.ok(Date.parse(line.time) - signalled < 1000, `logged ${Date.parse(line.time) - signalled} ms after the signal`);
      assert.ok(!jsonLines(gw.output.join('')).some((l) => l.msg === 'mailmoat stopped'), 'the stop is still waiting for the message');
      // The client gives up: nothing left to wait for, the stop ends in order.
      c.hangUp();
      const code = await Promise.race([gw.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      assert.equal(code, 0);
    } finally {
      c.hangUp();
      await gw.kill();
    }
  });
});
