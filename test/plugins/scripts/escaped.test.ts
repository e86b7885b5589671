// Assuming a script gets past vm2 (escaped-child.ts runs it as the sandbox child's own code, started by the real pool
// with the real flags): the child's walls still hold, and the gateway side of the pipe ends a child that sends anything
// the protocol does not expect, without buffering what it claims to send.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../../../core/index.ts';
import { testPools } from './test-pools.ts';
import type { CallResult } from '../../../plugins/scripts/pool.ts';

const ESCAPED_CHILD = path.join(import.meta.dirname, 'escaped-child.ts');
const warnings: string[] = [];
const log: Logger = { debug() {}, info() {}, warn(msg: string, f?: object) { warnings.push(`${msg} ${JSON.stringify(f)}`); }, error() {}, child() { return log; } };

const DEFAULTS = { size: 1, timeoutMs: 10_000, memoryMb: 64, maxWaitMs: 10_000, maxResultChars: 64 * 1024, log, childFile: ESCAPED_CHILD };

describe('plugins/scripts past vm2', function () {
  this.timeout(60_000);
  const start = testPools(DEFAULTS);

  it('reads no file outside its code, writes none, signals no process, opens no socket to a loopback listener, allocates no memory past its data limit', async () => {
    let connections = 0;
    const server = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    try {
      const pool = await start([`module.exports = async (m, host) => {
        const p = host.process, out = {};
        const probe = async (name, f) => { try { await f(); out[name] = 'ALLOWED'; } catch (e) { out[name] = e.code || e.name; } };
        await probe('read', () => p.getBuiltinModule('fs').readFileSync('/etc/passwd'));
        await probe('readGateway', () => p.getBuiltinModule('fs').readFileSync(${JSON.stringify(path.resolve(import.meta.dirname, '../../../package.json'))}));
        await probe('write', () => p.getBuiltinModule('fs').writeFileSync('/tmp/mailmoat-escaped-probe', 'x'));
        // Signal 0 only asks whether the gateway could be signalled (killed, reloaded, its inspector opened).
        await probe('signalGateway', () => { if (!p.kill(p.ppid, 0)) throw new Error('no'); });
        await probe('reniceGateway', () => p.getBuiltinModule('os').setPriority(p.ppid, 19));
        await probe('spawn', () => p.getBuiltinModule('child_process').execFileSync('/bin/true'));
        await probe('connect', () => p.getBuiltinModule('net').connect(${port}, '127.0.0.1'));
        await probe('http', () => p.getBuiltinModule('http').get('http://127.0.0.1:${port}/'));
        await probe('fetch', () => fetch('http://127.0.0.1:${port}/'));
        // About 1 GB outside the V8 heap, where --max-old-space-size does not reach.
        await probe('buffer', () => { const b = Buffer.alloc(1024 * 1024 * 1024, 1); if (b[b.length - 1] !== 1) throw new Error('short'); });
        await probe('wasmMemory', () => new WebAssembly.Memory({ initial: 1, maximum: 65536 }).grow(16384));
        return out;
      }`]);
      const r = await pool.call(0, '{}');
      assert.ok(r.ok, JSON.stringify(r));
      const out = r.output as Record<string, string>;
      assert.deepEqual(Object.keys(out).sort(), ['buffer', 'connect', 'fetch', 'http', 'read', 'readGateway', 'reniceGateway', 'signalGateway', 'spawn', 'wasmMemory', 'write']);
      for (const [name, result] of Object.entries(out)) assert.notEqual(result, 'ALLOWED', `${name} was allowed: ${JSON.stringify(out)}`);
      assert.equal(out.read, 'ERR_ACCESS_DENIED');
      assert.equal(out.write, 'ERR_ACCESS_DENIED');
      assert.equal(out.signalGateway, 'ERR_ACCESS_DENIED');
      assert.equal(out.reniceGateway, 'ERR_ACCESS_DENIED');
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(connections, 0, 'the loopback listener saw a connection');
    } finally {
      server.close();
    }
  });

  it('cannot answer for another script: a script that spoils its process leaves the other script\'s verdict and its later calls right', async () => {
    const reject = 'module.exports = () => ({ action: { type: "reject", text: "no" } })';
    const pool = await start([`module.exports = (m, host) => {
      // Every answer this process sends goes through its JSON.stringify: one with an action becomes "nothing to report".
      const stringify = JSON.stringify;
      JSON.stringify = function (v, ...rest) { return v && typeof v === 'object' && 'action' in v ? 'null' : stringify.call(JSON, v, ...rest); };
      return { findings: [] };
    }`, reject]);
    const tamperer = await pool.call(0, '{}');
    assert.equal(tamperer.ok, true, JSON.stringify(tamperer));
    // The spoiled process answers its own script's calls wrongly from now on; the other script's are untouched.
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await pool.call(1, '{"subject":"x"}'), { ok: true, output: { action: { type: 'reject', text: 'no' } } });
    }
    // Even with the tamperer running at the same time as the other script.
    const [, other] = await Promise.all([pool.call(0, '{}'), pool.call(1, '{}')]);
    assert.deepEqual(other, { ok: true, output: { action: { type: 'reject', text: 'no' } } });
  });

  /** Runs one call of `source` and expects the gateway to end the child for breaking the protocol, well before the deadline. */
  async function expectBroken(source: string, reason: RegExp): Promise<void> {
    const pool = await start([source, 'module.exports = () => ({ fine: true })']);
    const before = pool.pids();
    const t0 = Date.now();
    const r: CallResult = await pool.call(0, '{}');
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal((r as { failure: string }).failure, 'crash');
    assert.match((r as { message: string }).message, reason);
    assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
    // A new child takes the next call.
    assert.deepEqual(await pool.call(1, '{}'), { ok: true, output: { fine: true } });
    assert.notDeepEqual(pool.pids(), before);
  }

  it('ends a child that answers a call it was not given', () =>
    expectBroken(`module.exports = (m, host) => { host.send({ type: 'result', id: host.id + 1, ok: true, output: 'null' }); }`, /broke its protocol: an answer to no call of its own/));

  it('ends a child whose answer is longer than the result limit, or not JSON, which would otherwise pass as "nothing to report"', async () => {
    await expectBroken(`module.exports = (m, host) => { host.send({ type: 'result', id: host.id, ok: true, output: JSON.stringify('x'.repeat(200000)) }); }`, /an answer of 200002 characters; at most 65536/);
    await expectBroken(`module.exports = (m, host) => { host.send({ type: 'result', id: host.id, ok: true, output: 'not json' }); }`, /an answer that is not JSON/);
    await expectBroken(`module.exports = (m, host) => { host.send({ type: 'result', id: host.id, ok: true, output: { findings: [] } }); }`, /an answer of the wrong shape/);
  });

  it('ends a child whose frame claims a gigabyte, at the length, before a byte of it is buffered', () =>
    expectBroken(`module.exports = (m, host) => { host.writeRaw(Buffer.from([0x40, 0, 0, 0, 0x7b])); }`, /a frame of 1073741824 bytes; at most \d+/));

  it('ends a child that floods the pipe after its answer; the answer itself stands', async () => {
    const pool = await start([`module.exports = (m, host) => {
      host.send({ type: 'result', id: host.id, ok: true, output: '{"findings":[]}' });
      for (let i = 0; i < 10000; i++) host.send({ type: 'result', id: host.id, ok: true, output: 'null' });
    }`, 'module.exports = () => 1']);
    const before = pool.pids();
    warnings.length = 0;
    assert.deepEqual(await pool.call(0, '{}'), { ok: true, output: { findings: [] } });
    const deadline = Date.now() + 5_000;
    while (!warnings.some((w) => w.startsWith('script sandbox broke its protocol'))) {
      assert.ok(Date.now() < deadline, 'the flooding child was not ended');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(await pool.call(1, '{}'), { ok: true, output: 1 });
    assert.notDeepEqual(pool.pids(), before);
    assert.equal(warnings.filter((w) => w.startsWith('script sandbox broke its protocol')).length, 1, warnings.join('\n'));
  });
});
