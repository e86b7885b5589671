// Runs a private clamd for tests: its own signature database, config file, unix socket and loopback TCP port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { ensureCommands } from './system-packages.ts';
import { freePort } from './ports.ts';
import { endChild, holdUntilExit } from './leftovers.ts';
import { ClamdClient } from '../../plugins/clamav/clamd-client.ts';

import { EICAR } from '../../plugins/clamav/eicar.ts';

export { EICAR };
/** A marker that our own body signature (`.ndb`) reports as a virus. */
export const MARKER = 'MAILMOAT-TEST-VIRUS-7f3a';

/** clamd appends `.UNOFFICIAL` to names from databases that are not signed by ClamAV. */
export const SIG_NAMES = {
  /** MD5 of the exact EICAR file: an attachment or a file inside an archive. */
  eicarHash: 'Mailmoat.Test.EICAR.UNOFFICIAL',
  /** The EICAR string in the text of a mail file (target type 4): a hash cannot match a text part with its line end. */
  eicarBody: 'Mailmoat.Test.EICAR-Body.UNOFFICIAL',
  marker: 'Mailmoat.Test.Marker.UNOFFICIAL',
};

export interface ClamdHandle {
  readonly socket: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** The signature database folder (also usable with `clamscan -d`). */
  readonly dbDir: string;
  /** Starts clamd again after `stop()`, on the same socket and port. */
  start(): Promise<void>;
  /** Stops clamd but keeps its files, so `start()` can bring it back. */
  stop(): Promise<void>;
  /** Stops clamd and removes its folder. */
  close(): Promise<void>;
  /** Freezes clamd (SIGSTOP), as a hung daemon: its sockets still take connections, and nothing answers. */
  pause(): void;
  /** Lets a paused clamd go on (SIGCONT). */
  resume(): void;
}

export interface ClamdOptions {
  /** clamd's StreamMaxLength, e.g. `1M`. */
  streamMaxLength?: string;
}

function writeDatabase(dbDir: string): void {
  const md5 = createHash('md5').update(EICAR).digest('hex');
  const hex = (s: string) => Buffer.from(s).toString('hex');
  fs.writeFileSync(path.join(dbDir, 'mailmoat-test.hdb'), `${md5}:${EICAR.length}:Mailmoat.Test.EICAR\n`);
  fs.writeFileSync(path.join(dbDir, 'mailmoat-test.ndb'),
    `Mailmoat.Test.EICAR-Body:4:*:${hex(EICAR)}\nMailmoat.Test.Marker:0:*:${hex(MARKER)}\n`);
}

function writeConfig(dir: string, socket: string, port: number, opts: ClamdOptions): string {
  const file = path.join(dir, 'clamd.conf');
  fs.writeFileSync(file, [
    'Foreground yes',
    `LocalSocket ${socket}`,
    'LocalSocketMode 660',
    `TCPSocket ${port}`,
    'TCPAddr 127.0.0.1',
    `DatabaseDirectory ${path.join(dir, 'db')}`,
    `LogFile ${path.join(dir, 'clamd.log')}`,
    `StreamMaxLength ${opts.streamMaxLength ?? '10M'}`,
    'MaxThreads 4',
    // The database never changes under a test; skip the periodic reload check.
    'SelfCheck 0',
    '',
  ].join('\n'));
  return file;
}

/** Starts clamd in the foreground as a child process and waits until it answers PING on both sockets. */
export async function startClamd(opts: ClamdOptions = {}): Promise<ClamdHandle> {
  // Debian puts clamd in /usr/sbin, which a non-login PATH may lack.
  if (!(process.env.PATH ?? '').split(':').includes('/usr/sbin')) process.env.PATH = `${process.env.PATH}:/usr/sbin`;
  // clamscan too: tests of the command-line scanner option run it on this database.
  ensureCommands({ clamd: 'clamav-daemon', clamscan: 'clamav' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-clamd-'));
  fs.mkdirSync(path.join(dir, 'db'));
  writeDatabase(path.join(dir, 'db'));
  const socket = path.join(dir, 'clamd.sock');
  const port = await freePort();
  const config = writeConfig(dir, socket, port, opts);
  const end = holdUntilExit({ dir });
  let child: ChildProcess | undefined;

  const start = async () => {
    if (child) return;
    fs.rmSync(socket, { force: true });
    const proc = spawn('clamd', [`--config-file=${config}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => { stderr += d; });
    const letGo = holdUntilExit({ child: proc });
    proc.on('exit', () => { letGo(); if (child === proc) child = undefined; });
    const unix = new ClamdClient({ target: { socket }, connectTimeout: 200, scanTimeout: 1000 });
    const tcp = new ClamdClient({ target: { host: '127.0.0.1', port }, connectTimeout: 200, scanTimeout: 1000 });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!child) throw new Error(`clamd exited while starting: ${stderr.trim()}`);
      if (await unix.ping().catch(() => false) && await tcp.ping().catch(() => false)) return;
      if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`clamd did not answer PING within 20 s: ${stderr.trim()}`); }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    // A paused clamd would hold SIGTERM until the grace ran out.
    proc.kill('SIGCONT');
    await endChild(proc, 5000);
  };

  try {
    await start();
  } catch (err) {
    // A start that fails gives the caller no close() to call.
    await stop();
    end();
    throw err;
  }
  return {
    socket, host: '127.0.0.1', port, dir, dbDir: path.join(dir, 'db'), start, stop,
    async close() { await stop(); end(); },
    pause() { child?.kill('SIGSTOP'); },
    resume() { child?.kill('SIGCONT'); },
  };
}

export interface SlowProxy {
  readonly port: number;
  /** Most INSTREAM scans waiting for their reply at once so far. */
  readonly peak: number;
  stop(): Promise<void>;
}

/**
 * A TCP proxy in front of clamd that holds back clamd's replies for `delayMs`, to test scan timeouts.
 * Requests pass straight through, so clamd scans at its normal speed; only the answer comes late.
 */
export async function startSlowProxy(target: { host: string; port: number }, delayMs: number): Promise<SlowProxy> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let waiting = 0;
  let peak = 0;
  const server = net.createServer((client) => {
    const upstream = net.createConnection(target);
    sockets.add(client).add(upstream);
    let scan: 'unknown' | 'waiting' | 'answered' | 'other' = 'unknown';
    client.on('data', (d) => {
      if (scan === 'unknown') {
        scan = d.subarray(0, 9).toString() === 'zINSTREAM' ? 'waiting' : 'other';
        if (scan === 'waiting') peak = Math.max(peak, ++waiting);
      }
      upstream.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('data', (d) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (scan === 'waiting') { scan = 'answered'; waiting--; }
        if (!client.destroyed) client.write(d);
      }, delayMs);
      timers.add(t);
    });
    upstream.on('end', () => {
      const t = setTimeout(() => { timers.delete(t); client.end(); }, delayMs);
      timers.add(t);
    });
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    get peak() { return peak; },
    async stop() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
