// The sandbox child's code reaches it stripped of its types by the gateway (child-code.ts, child-loader.mjs), so that
// no child loads Node's TypeScript stripper: real child processes, the real entry files.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type net from 'node:net';
import path from 'node:path';
import type { Logger } from '../../../core/index.ts';
import { childCode } from '../../../plugins/scripts/child-code.ts';
import { testPools } from './test-pools.ts';

const SCRIPTS = path.resolve(import.meta.dirname, '../../../plugins/scripts');
const LOADER = path.join(SCRIPTS, 'child-loader.mjs');
const SANDBOX_CHILD = path.join(SCRIPTS, 'sandbox-child.ts');
const VM2 = createRequire(import.meta.url).resolve('vm2');
/** Node's module names for its TypeScript stripper (swc in WebAssembly). */
const STRIPPER = /amaro/;

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
const noFailure = (reason: string) => { throw new Error(`the child's code could not be prepared: ${reason}`); };

/**
 * Runs the loader on `entry` with `stdin`, its channel closed at once (the sandbox child ends when the gateway is
 * gone), and tells which of Node's stripper modules the process had loaded when it ended.
 */
function runLoader(entry: string, stdin: string): Promise<{ code: number | null; stripper: string[] | undefined; stderr: string }> {
  const probe = `process.on('exit', () => process.stderr.write('\\nloaded:' + JSON.stringify(process.moduleLoadList.filter((m) => ${STRIPPER}.test(m)))));`;
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, LOADER, entry, VM2],
    { env: {}, stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
  child.stdin!.end(stdin);
  (child.stdio[3] as net.Socket).end();
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (code) => {
    const loaded = /\nloaded:(.*)$/.exec(stderr)?.[1];
    resolve({ code, stripper: loaded === undefined ? undefined : JSON.parse(loaded) as string[], stderr });
  }));
}

describe('plugins/scripts child code', function () {
  this.timeout(30_000);
  const start = testPools({ size: 1, timeoutMs: 10_000, memoryMb: 64, maxWaitMs: 10_000, maxResultChars: 64 * 1024, log: quiet });

  it('the sandbox child loads every module of its own from the code the gateway stripped, and never Node\'s stripper', async () => {
    const prepared = await runLoader(SANDBOX_CHILD, childCode(SANDBOX_CHILD, noFailure));
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.deepEqual(prepared.stripper, []);
    // The probe does see the stripper where Node strips the modules itself (nothing on stdin).
    const itself = await runLoader(SANDBOX_CHILD, '');
    assert.equal(itself.code, 0, itself.stderr);
    assert.ok(itself.stripper?.length, itself.stderr);
  });

  it('refuses a TypeScript module the gateway did not prepare, rather than strip it at the cost of the memory', async () => {
    const r = await runLoader(SANDBOX_CHILD, '{}');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /sandbox-child\.ts is not among the modules the gateway prepared for the sandbox child/);
  });

  it('a pool\'s child runs its entry under the real flags, with the command line the entry would have had', async () => {
    const pool = await start([`module.exports = (m, host) => ({
      argv: host.process.argv.slice(1).map((a) => a.split('/').pop()),
      stripper: host.process.moduleLoadList.filter((m) => ${STRIPPER}.test(m)),
      semiSpace: host.process.execArgv.filter((a) => a.startsWith('--max-semi-space-size')),
    })`], { childFile: path.join(import.meta.dirname, 'escaped-child.ts') });
    const r = await pool.call(0, '{}');
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.output, { argv: ['escaped-child.ts', path.basename(VM2)], stripper: [], semiSpace: ['--max-semi-space-size=2'] });
  });
});
