// Starts a private redis-server on a free loopback port with its own temp dir, for tests that need a real Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureCommands } from './system-packages.ts';
import { freePort } from './ports.ts';
import { endChild, holdUntilExit } from './leftovers.ts';

export interface RedisHandle {
  port: number;
  /** Its own temp dir, removed by stop() or when the test process exits. */
  dir: string;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Sends PING until the server answers PONG, or fails after `timeoutMs`. */
async function waitForPong(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let buf = '';
      const done = (v: boolean) => { sock.destroy(); resolve(v); };
      sock.setTimeout(500, () => done(false));
      sock.on('error', () => done(false));
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.on('data', (d) => { buf += d.toString(); if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

/**
 * Starts redis-server on 127.0.0.1 (installing the Debian package when missing), with persistence off, on
 * `opts.port` or a free port.
 * @example
 *   const redis = await startRedis();
 *   // ... state: { backend: 'redis', redis: { url: redis.url } }
 *   await redis.stop();
 */
export async function startRedis(opts: { port?: number } = {}): Promise<RedisHandle> {
  ensureCommands({ 'redis-server': 'redis-server' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-redis-'));
  const end = holdUntilExit({ dir });
  // A port taken between freePort() and bind() is possible under parallel runs: retry a few times.
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? await freePort();
    const child = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes',
      '--loglevel', 'warning', '--logfile', path.join(dir, 'redis.log'),
    ], { stdio: 'ignore' });
    const letGo = holdUntilExit({ child });
    child.once('exit', letGo);
    try {
      await waitForPong(port, child, 10_000);
    } catch (err) {
      await endChild(child, 0);
      if (attempt < 3 && opts.port === undefined) continue;
      end();
      throw err;
    }
    let stopped = false;
    return {
      port,
      dir,
      url: `redis://127.0.0.1:${port}`,
      async stop() {
        if (stopped) return;
        stopped = true;
        await endChild(child);
        end();
      },
    };
  }
}
