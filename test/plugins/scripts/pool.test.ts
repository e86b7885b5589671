// The sandbox pool on its own, with real child processes: results, runaway and hostile scripts, replacement, close.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ScriptLoadError, ScriptPool, type PoolOptions } from '../../../plugins/scripts/pool.ts';
import type { Logger } from '../../../core/index.ts';
import { poolOptions, testPools } from './test-pools.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
const input = JSON.stringify({ subject: 'hello', headers: [{ name: 'Subject', value: 'hello' }], text: 'body' });

const DEFAULTS = { size: 2, timeoutMs: 500, memoryMb: 64, maxWaitMs: 5_000, maxResultChars: 64 * 1024, log: quiet };
const options = (sources: string[], over: Partial<PoolOptions> = {}): PoolOptions => poolOptions(DEFAULTS, sources, over);

describe('plugins/scripts pool', function () {
  this.timeout(30_000);
  const start = testPools(DEFAULTS);

  it('runs a script on the snapshot and returns its plain result, with a header() helper in the sandbox', async () => {
    const pool = await start(['module.exports = (m) => ({ findings: [{ symbol: "X", score: 1, detail: m.header("SUBJECT") + "/" + m.text }] })']);
    assert.deepEqual(await pool.call(0, input), { ok: true, output: { findings: [{ symbol: 'X', score: 1, detail: 'hello/body' }] } });
  });

  it('cuts a detail and an action text to their documented lengths in the child, before the result cap is measured', async () => {
    const pool = await start(['module.exports = () => { const long = "ab\\n".repeat(40000); return { findings: [{ symbol: "X", score: 1, detail: long }], action: { type: "reject", text: long } }; }']);
    const r = await pool.call(0, input);
    assert.ok(r.ok, JSON.stringify(r).slice(0, 300));
    const out = r.output as { findings: Array<{ detail: string }>; action: { text: string } };
    assert.equal(out.findings[0].detail, 'ab '.repeat(67).slice(0, 200));
    assert.equal(out.action.text, out.findings[0].detail);
  });

  it('starts size children per script, each running only its own script, and answers a call for no script as an error', async () => {
    const pool = await start(['module.exports = () => "a"', 'module.exports = () => "b"', 'module.exports = () => "c"']);
    assert.equal(pool.stats().children, 6);
    const answers = await Promise.all([0, 1, 2, 0, 1, 2].map((i) => pool.call(i, input)));
    assert.deepEqual(answers.map((r) => (r as { output: unknown }).output), ['a', 'b', 'c', 'a', 'b', 'c']);
    assert.deepEqual(await pool.call(3, input), { ok: false, failure: 'error', message: 'no script number 3' });
  });

  it('gives the script no require, process, fetch, Buffer, typed arrays or code generation from strings', async () => {
    const pool = await start([`module.exports = () => {
      const probe = (f) => { try { return String(f()); } catch (e) { return e.name; } };
      return { seen: [typeof require, typeof process, typeof fetch, typeof Buffer, typeof Uint8Array, typeof ArrayBuffer, typeof WebAssembly, typeof setTimeout],
        ctor: probe(() => this.constructor.constructor('return process')()),
        fn: probe(() => Function('return 1')()), ev: probe(() => eval('1')) };
    }`]);
    const r = await pool.call(0, input);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.output, { seen: Array(8).fill('undefined'), ctor: 'EvalError', fn: 'EvalError', ev: 'EvalError' });
  });

  it('refuses at start a script with a syntax error, one that exports no function, and top-level code that runs away', async () => {
    await assert.rejects(ScriptPool.start(options(['module.exports = (m => ;'])), (e: Error) => e instanceof ScriptLoadError && /^s0\.js:1:24: SyntaxError: Unexpected token ';'$/.test(e.message));
    await assert.rejects(ScriptPool.start(options(['module.exports = 42'])), /s0\.js: TypeError: the script must set module.exports to a function \(it got number\)/);
    await assert.rejects(ScriptPool.start(options(['while (true) {}'])), /s0\.js: Error: Script execution timed out/);
  });

  it('a script that throws or returns what JSON cannot carry fails only its call, with the error named', async () => {
    const pool = await start(['module.exports = (m) => { if (m.subject === "hello") null.x; return 1 }', 'module.exports = () => { const a = {}; a.a = a; return a }']);
    const r = await pool.call(0, input);
    assert.deepEqual(r, { ok: false, failure: 'error', message: "TypeError: Cannot read properties of null (reading 'x'); at s0.js:1:59 (module.exports)" });
    const c = await pool.call(1, input);
    assert.equal(c.ok, false);
    assert.match((c as { message: string }).message, /the result is not plain data: TypeError: Converting circular structure/);
  });

  it('kills and replaces a child at the deadline: sync loop, endless async loop; the other child keeps answering', async () => {
    const pool = await start([
      'module.exports = (m) => { if (m.mode === "sync") while (true) {}; return async function loop() { for (;;) await null; }() }',
      'module.exports = () => ({ ok: 1 })',
    ], { timeoutMs: 400 });
    const before = pool.pids();
    const t0 = Date.now();
    const [sync, async_, plain] = await Promise.all([
      pool.call(0, JSON.stringify({ mode: 'sync' })), pool.call(0, JSON.stringify({ mode: 'async' })), pool.call(1, input),
    ]);
    assert.equal(sync.ok, false);
    assert.equal(async_.ok, false);
    // The sync loop is stopped inside the child by vm2's own timeout or by the kill, whichever comes first.
    assert.match((sync as { message: string }).message, /timed out|no answer within 400 ms/);
    assert.deepEqual(async_, { ok: false, failure: 'timeout', message: 'no answer within 400 ms' });
    assert.deepEqual(plain, { ok: true, output: { ok: 1 } });
    assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
    // The killed children are replaced and the pool answers again.
    assert.deepEqual(await pool.call(1, input), { ok: true, output: { ok: 1 } });
    // Two children for each of the two scripts.
    await waitUntil('four idle workers', () => pool.stats().idle === 4, 5_000);
    assert.notDeepEqual(pool.pids().sort(), before.sort());
  });

  it('a script that leaves an endless promise chain behind its answer fails its own call, not the next one (another message\'s)', async () => {
    const pool = await start(['module.exports = (m) => { if (m.leave) (async () => { for (;;) await null; })(); return { findings: [] } }'], { size: 1, timeoutMs: 500 });
    const guilty = await pool.call(0, JSON.stringify({ leave: true }));
    assert.deepEqual(guilty, { ok: false, failure: 'timeout', message: 'no answer within 500 ms' });
    assert.deepEqual(await pool.call(0, JSON.stringify({ leave: false })), { ok: true, output: { findings: [] } });
  });

  it('a heap bomb ends its own child at the memory cap (crash), the pool replaces it', async () => {
    const pool = await start(['module.exports = () => { const a = []; for (;;) a.push({ s: "x".repeat(64) + a.length, n: a.length }) }', 'module.exports = () => 1'],
      { timeoutMs: 20_000, memoryMb: 32 });
    const t0 = Date.now();
    const [bomb, plain] = await Promise.all([pool.call(0, input), pool.call(1, input)]);
    assert.equal(plain.ok, true);
    assert.equal(bomb.ok, false);
    // Before the 20 s deadline: the cap, not the clock, ended it.
    assert.equal((bomb as { failure: string }).failure, 'crash', JSON.stringify(bomb));
    assert.match((bomb as { message: string }).message, /ran out of memory \(32 MB cap\)/);
    assert.ok(Date.now() - t0 < 15_000);
    assert.deepEqual(await pool.call(1, input), { ok: true, output: 1 });
  });

  it('a child killed from outside fails only the call it was running', async () => {
    const pool = await start(['module.exports = (m) => { const end = Date.now() + (m.wait || 0); while (Date.now() < end) {} return m.wait || 0 }'], { timeoutMs: 5_000 });
    const slow = pool.call(0, JSON.stringify({ wait: 2_000 }));
    await new Promise((r) => setTimeout(r, 200));
    const fast = await pool.call(0, JSON.stringify({ wait: 1 }));
    assert.deepEqual(fast, { ok: true, output: 1 });
    const running = pool.pids('busy');
    assert.equal(running.length, 1);
    process.kill(running[0], 'SIGKILL');
    const r = await slow;
    assert.equal(r.ok, false);
    assert.equal((r as { failure: string }).failure, 'crash');
    assert.deepEqual(await pool.call(0, JSON.stringify({ wait: 1 })), { ok: true, output: 1 });
  });

  it('close() lets a running call finish before it ends the children', async () => {
    const pool = await ScriptPool.start(options(['module.exports = () => { const end = Date.now() + 300; while (Date.now() < end) {} return "done" }'], { timeoutMs: 2_000 }));
    const pids = pool.pids();
    const running = pool.call(0, input);
    await new Promise((r) => setTimeout(r, 50));
    await pool.close();
    assert.deepEqual(await running, { ok: true, output: 'done' });
    assert.deepEqual(await pool.call(0, input), { ok: false, failure: 'closed', message: 'the script pool is closed' });
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });

  it('a call that finds every child busy past max_wait fails as busy', async () => {
    const pool = await start(['module.exports = () => { const end = Date.now() + 800; while (Date.now() < end) {} return 1 }'], { size: 1, timeoutMs: 2_000, maxWaitMs: 200 });
    const [first, second] = await Promise.all([pool.call(0, input), pool.call(0, input)]);
    assert.deepEqual(first, { ok: true, output: 1 });
    assert.deepEqual(second, { ok: false, failure: 'busy', message: 'no free sandbox within 200 ms (1 in use)' });
  });

  it('starts its children under a hard data-segment limit lower than the one it asks for (systemd LimitDATA=)', async () => {
    // The pool runs in a process started under that hard limit, as a service with LimitDATA= would be.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-limitdata-'));
    try {
      const probe = path.join(dir, 'probe.ts');
      writeFileSync(probe, `import { ScriptPool } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../../plugins/scripts/pool.ts'))};
const log = { debug() {}, info() {}, warn() {}, error() {}, child() { return log; } };
const pool = await ScriptPool.start({ scripts: [{ name: 's.js', source: 'module.exports = () => 41 + 1' }], size: 1, timeoutMs: 5000, memoryMb: 64, maxWaitMs: 5000, maxResultChars: 65536, log });
console.log(JSON.stringify(await pool.call(0, '{}')));
await pool.close();
`);
      const out = execFileSync('/bin/sh', ['-c', 'ulimit -d 900000 && exec "$0" "$1"', process.execPath, probe], { encoding: 'utf8', timeout: 30_000 });
      assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { ok: true, output: 42 });
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

