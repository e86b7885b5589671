// SIGUSR1 and SIGUSR2, which logrotate postrotate scripts send out of habit, must change nothing for the MX: Node's
// defaults would open its inspector (local code execution as the gateway's user) on SIGUSR1 and end the process at once
// on SIGUSR2. Each way of starting the gateway is tried, since each runs node differently.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath, type ControlStatus } from '../../../core/control/protocol.ts';
import { spawnGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { listeningPorts } from './listening-ports.ts';
import { sendOneMessage } from './one-message.ts';

const PROJECT = path.resolve(import.meta.dirname, '..', '..', '..');

const jsonLines = (text: string) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * Sends SIGUSR1 and SIGUSR2 to the gateway `pid` and checks that each is logged as ignored, that a message still gets
 * 250, and that the process listens on its SMTP port alone: no inspector.
 */
async function assertIgnored(pid: number, port: number, output: () => string): Promise<void> {
  for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
    process.kill(pid, signal);
    const line = await waitFor(() => `the ${signal} line:\n${output()}`, () => jsonLines(output()).find((l) => l.msg?.toString().startsWith('signal ignored') && l.signal === signal));
    assert.equal(line.level, 'warn');
    assert.match(String(line.msg), /its log goes to standard output .*journald.*moat reload or SIGHUP/);
  }
  const reply = await sendOneMessage(port, 'after SIGUSR1 and SIGUSR2');
  assert.equal(reply.code, 250, reply.text);
  assert.deepEqual(listeningPorts(pid), [port], 'the gateway listens on its SMTP port only');
  assert.doesNotMatch(output(), /Debugger listening/);
}

interface ThroughNpm { npm: ChildProcess; port: number; dataDir: string; output: () => string; exited: Promise<number | null> }

/** `npm start` or `npx moat start` from the checkout, as an admin types it. */
async function spawnThroughNpm(command: 'npm' | 'npx', dir: string): Promise<ThroughNpm> {
  const port = await freePort();
  const dataDir = path.join(dir, 'data');
  const file = path.join(dir, 'gw.yaml');
  writeFileSync(file, stringify({ server: { listen: [`127.0.0.1:${port}`] }, domains: ['example.com'], data_dir: dataDir, log: { level: 'info', format: 'json' } }));
  const args = command === 'npm' ? ['start', '--', '--config', file] : ['moat', 'start', '--config', file];
  const npm = spawn(command, args, { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  npm.stdout!.on('data', (d: Buffer) => chunks.push(d.toString()));
  npm.stderr!.on('data', (d: Buffer) => chunks.push(d.toString()));
  const output = () => chunks.join('');
  const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
  return { npm, port, dataDir, output, exited };
}

/** Whether process `pid` still exists. */
function running(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

describe('lifecycle: SIGUSR1 and SIGUSR2 are ignored', function () {
  this.timeout(120_000);

  it('node scripts/moat.js start: logs each, takes mail after them, opens no inspector, and still stops in order', async () => {
    const gw = await spawnGateway();
    try {
      await assertIgnored(gw.child.pid!, gw.port, () => gw.output.join(''));
      gw.child.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
      assert.ok(jsonLines(gw.output.join('')).some((l) => l.msg === 'mailmoat stopped'));
    } finally {
      await gw.kill('SIGKILL');
    }
  });

  for (const command of ['npm', 'npx'] as const) {
    it(`${command === 'npm' ? 'npm start' : 'npx moat start'}: the same`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), `mailmoat-usr-${command}-`));
      const gw = await spawnThroughNpm(command, dir);
      let pid: number | undefined;
      // The gateway is npm's grandchild: ended by its pid if the test fails half-way.
      const end = holdUntilExit({ child: gw.npm, dir, undo: () => { if (pid && running(pid)) process.kill(pid, 'SIGKILL'); } });
      try {
        await waitFor(() => `the start:\n${gw.output()}`, () => gw.output().includes('"mailmoat started"') || undefined, 60_000);
        pid = (await controlRequest(socketPath(gw.dataDir), { op: 'status' }) as ControlStatus).pid;
        assert.notEqual(pid, gw.npm.pid, 'npm runs the gateway in a process of its own');
        await assertIgnored(pid, gw.port, gw.output);
        // npm ends once the gateway it ran has stopped.
        process.kill(pid, 'SIGTERM');
        assert.equal(await gw.exited, 0, gw.output());
        assert.ok(jsonLines(gw.output()).some((l) => l.msg === 'mailmoat stopped'));
      } finally {
        if (pid && running(pid)) process.kill(pid, 'SIGKILL');
        if (gw.npm.exitCode === null && gw.npm.signalCode === null) gw.npm.kill('SIGKILL');
        await gw.exited;
        end();
      }
    });
  }
});
