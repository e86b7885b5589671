// `moat … | head` ends quietly when the reader goes away, as a C tool does: no EPIPE stack trace, and death by SIGPIPE
// (141 to a shell). A command runs to its end with its output dropped; the gateway, its log going nowhere once the
// readers of both stdout and stderr are gone, stops in order (test/core/log/lost-log-reader: stdout's alone is not).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../helpers/ports.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

interface Ended { code: number | null; signal: NodeJS.Signals | null; stderr: string; firstChunk: string }

/**
 * Runs `moat args` with stdout in a pipe whose reading end is closed after the first chunk (`atOnce`: before anything
 * arrives, a reader that is gone before the command writes), and stderr's too with `stderrToo`. `whenClosed` runs once
 * they are closed.
 */
function runClosingStdout(args: string[], cwd: string, opts: { atOnce?: boolean; stderrToo?: boolean; whenClosed?: (running: () => boolean) => Promise<void> } = {}): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MOAT, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let firstChunk = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const running = () => child.exitCode === null && child.signalCode === null;
    const close = () => {
      child.stdout.destroy();
      if (opts.stderrToo) child.stderr.destroy();
      void opts.whenClosed?.(running).catch(reject);
    };
    if (opts.atOnce) close();
    else child.stdout.once('data', (d: Buffer) => { firstChunk = d.toString(); close(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`moat ${args[0]} did not end; stderr: ${stderr}`)); }, 50_000);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stderr, firstChunk }); });
  });
}

/** What a shell makes of it: 128 + the signal's number for a process a signal ended. */
function shellStatus(e: Ended): number | null {
  return e.signal ? 128 + os.constants.signals[e.signal] : e.code;
}

function assertQuiet(e: Ended): void {
  assert.doesNotMatch(e.stderr, /EPIPE|Unhandled 'error' event|^\s+at /m, e.stderr);
  assert.equal(shellStatus(e), 141, `ended with ${e.code ?? e.signal}; stderr: ${e.stderr}`);
}

describe('moat with its output piped to a reader that goes away', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-closed-output-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('`moat doctor | head -1`: the checks after the first line end quietly', async () => {
    // Nothing answers on these loopback ports: the DNS and smarthost lines come well after the first (the mx route
    // makes the DNS check run).
    const closedPort = await freePort();
    const file = path.join(dir, 'doctor.yaml');
    writeFileSync(file, stringify({
      data_dir: './doctor-data', domains: ['example.org'], dns: { servers: [`127.0.0.1:${closedPort}`] }, smarthost: `smtp://127.0.0.1:${closedPort}`,
      routes: { 'far.example': 'mx' },
    }));
    const ended = await runClosingStdout(['doctor', '--config', file], dir);
    assert.match(ended.firstChunk, /^ok {3}config: /);
    assertQuiet(ended);
  });

  it('`moat config-help | true`: a reader gone before the first write', async () => {
    assertQuiet(await runClosingStdout(['config-help'], dir, { atOnce: true }));
    assertQuiet(await runClosingStdout(['--help'], dir, { atOnce: true }));
  });

  it('`moat start 2>&1 | head -1`: the gateway stops in order at its next log line', async () => {
    const port = await freePort();
    const dataDir = path.join(dir, 'gateway-data');
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, stringify({ data_dir: dataDir, server: { listen: [`127.0.0.1:${port}`] }, domains: ['example.com'], log: { level: 'debug' } }));
    // A connection makes the gateway log, which finds the reader gone (unless a line of its start found it first).
    const connect = async (running: () => boolean) => {
      for (const end = Date.now() + 20_000; running();) {
        try {
          const d = await SmtpDialog.connect(port);
          await d.read().catch(() => undefined);
          await d.quit().catch(() => undefined);
          return;
        } catch (e) { if (Date.now() > end) throw e; }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const ended = await runClosingStdout(['start', '--config', file], dir, { stderrToo: true, whenClosed: connect });
    assertQuiet(ended);
    // An ordered stop removes the control socket; a process that died outright leaves it behind.
    assert.equal(existsSync(path.join(dataDir, 'control.sock')), false);
  });
});
