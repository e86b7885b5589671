// `npx moat start` runs the gateway under npm → sh -c → node. A SIGTERM to the npm process (what `kill $!` after
// `nohup npx moat start &` sends) ends npm and the shell, which do not pass it on: the gateway must notice that its
// parent is gone and stop in order (`stopping` with `reason: parent exited`), not run on orphaned on its port.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { controlRequest } from '../../core/control/client.ts';
import { socketPath, type ControlStatus } from '../../core/control/protocol.ts';
import { freePort } from '../helpers/ports.ts';
import { endChild, holdUntilExit } from '../helpers/leftovers.ts';
import { waitFor, waitUntil } from '../helpers/wait-for.ts';

const PROJECT = path.resolve(import.meta.dirname, '..', '..');

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Whether the process `pid` still runs: an orphan that exited is a zombie until init reaps it, which runs nothing. */
function exists(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

describe('moat start under npx', function () {
  this.timeout(90_000);

  it('stops in order once npm, sent SIGTERM, is gone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-npx-'));
    const port = await freePort();
    const file = path.join(dir, 'gw.yaml');
    writeFileSync(file, stringify({ server: { listen: [`127.0.0.1:${port}`] }, domains: ['one.example'], data_dir: './data', log: { level: 'info', format: 'json' } }));
    // As an admin types it, from the checkout: npx finds the project's own `moat`.
    const npx = spawn('npx', ['moat', 'start', '--config', file], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
    // The gateway is npx's grandchild, not this process's child: it is ended by its pid if the test fails half-way.
    let gatewayPid: number | undefined;
    const end = holdUntilExit({ child: npx, dir, undo: () => { if (gatewayPid && exists(gatewayPid)) process.kill(gatewayPid, 'SIGKILL'); } });
    const output: string[] = [];
    npx.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    npx.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    // The gateway keeps npx's output pipe after npx is gone: it closes once the gateway has exited too.
    const pipeClosed = new Promise<void>((r) => npx.stdout!.once('close', () => r()));
    try {
      await waitUntil(() => `the start:\n${output.join('')}`, () => output.join('').includes('"mailmoat started"'), 60_000);
      const status = await controlRequest(socketPath(path.join(dir, 'data')), { op: 'status' }) as ControlStatus;
      gatewayPid = status.pid;
      assert.notEqual(gatewayPid, npx.pid, 'npx runs the gateway in a process of its own');
      assert.equal(await listening(port), true);

      npx.kill('SIGTERM');
      const stopping = await waitFor(() => `the stopping line:\n${output.join('')}`, () => output.join('').split('\n')
        .filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'stopping'), 20_000);
      assert.equal(stopping.reason, 'parent exited');
      await pipeClosed;
      assert.match(output.join(''), /"mailmoat stopped"/);
      await waitUntil('the gateway process to exit', () => !exists(gatewayPid!), 10_000);
      assert.equal(await listening(port), false);
    } finally {
      await endChild(npx);
      if (gatewayPid && exists(gatewayPid)) process.kill(gatewayPid, 'SIGTERM');
      await waitUntil('the gateway to exit', () => !gatewayPid || !exists(gatewayPid), 20_000).catch(() => undefined);
      end();
    }
  });
});
