// A system account for tests of a gateway run as a service user (as the README's unit runs it), and `moat` commands
// and gateways run as it with setpriv. The tests run as root, which reads every file whatever its owner and mode.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { holdUntilExit } from '../../helpers/leftovers.ts';

// useradd and userdel give up at once when another holds /etc/passwd's lock: test files in parallel workers take turns.
const PASSWD_LOCK = '/tmp/mailmoat-tests-passwd.lock';
const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
  /** Runs `moat ARGS` as the user: its exit code and output. */
  moat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts `moat start --config FILE` as the user, with its output collected. */
  start(configFile: string): { child: ChildProcess; output: string[]; exited: Promise<number | null>; stop(): Promise<void> };
  remove(): void;
}

export function createServiceUser(): ServiceUser {
  const name = `mmtest${randomBytes(3).toString('hex')}`;
  execFileSync('flock', [PASSWD_LOCK, 'useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  const remove = () => { try { execFileSync('flock', [PASSWD_LOCK, 'userdel', name], { stdio: 'ignore' }); } catch { /* already gone */ } };
  const release = holdUntilExit({ undo: remove });
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  const as = ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', '--', process.execPath, MOAT];
  return {
    name, uid, gid,
    moat: (args) => new Promise((resolve) => {
      execFile('setpriv', [...as, ...args], { cwd: '/', timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
      });
    }),
    start(configFile) {
      const child = spawn('setpriv', [...as, 'start', '--config', configFile], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
      const end = holdUntilExit({ child });
      const output: string[] = [];
      child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => { end(); r(code); }));
      return {
        child, output, exited,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    },
    remove() { remove(); release(); },
  };
}

/** The JSON log lines in a gateway's output. */
export function jsonLines(output: string[]): Array<Record<string, unknown>> {
  return output.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * A temp folder the user can enter (as /etc and /var/lib are), with `data` in it owned by the user, mode 0700, as the
 * README's install step makes it. `end()` removes it.
 */
export function serviceFolders(user: ServiceUser, prefix: string): { root: string; dataDir: string; end(): void } {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const end = holdUntilExit({ dir: root });
  chmodSync(root, 0o755);
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  chownSync(dataDir, user.uid, user.gid);
  return { root, dataDir, end };
}
