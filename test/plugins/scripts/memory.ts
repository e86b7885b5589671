// Memory of one sandbox child, and where it goes: `node test/plugins/scripts/memory.ts [--calls=3000]`.
// Reads /proc/<pid>/smaps_rollup of processes started with the sandbox's Node flags at each stage: Node alone, Node
// with vm2 and a VM, a pool's child ready with a trivial script, the same child after `calls` calls on a 4 KB
// message's snapshot (its heap and young generation grown to what the calls need). Linux only.
//
// `pss` shares each page among the processes that map it (Node's own code is shared by every child, and by the
// gateway), so it is what a child adds; `anon` is the part of it that is the child's own (heaps, JIT code, malloc).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ScriptPool, sandboxExecArgv } from '../../../plugins/scripts/pool.ts';
import type { Logger } from '../../../core/index.ts';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const calls = arg('calls', 3000);
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
const MEMORY_MB = 128;

function reading(pid: number): Record<string, number> {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const mb = (key: string) => +(Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0) / 1024).toFixed(1);
  return { rss: mb('Rss'), pss: mb('Pss'), anon: mb('Pss_Anon') };
}

/** A Node with the sandbox's flags running `code` (ESM), read once it says it is done. */
async function stage(code: string): Promise<Record<string, number>> {
  const child = spawn(process.execPath, [...sandboxExecArgv(MEMORY_MB), '--input-type=module', '-e', `${code}\nprocess.stdout.write('done'); setInterval(() => {}, 60_000);`],
    { env: {}, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => { child.stdout.once('data', () => resolve()); child.once('exit', () => reject(new Error('stage ended early'))); });
    return reading(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

const vm2 = createRequire(import.meta.url).resolve('vm2');
const stages: Record<string, Record<string, number>> = {};
stages.node = await stage('');
stages.node_vm2 = await stage(`import { createRequire } from 'node:module';
const { VM } = createRequire(import.meta.url)(${JSON.stringify(vm2)});
globalThis.vm = new VM({ eval: false, wasm: false, allowAsync: true, sandbox: {} }); globalThis.vm.run('1');`);

const snapshot = JSON.stringify({
  id: 'memory', envelope: { from: 'a@example.org', to: ['b@example.com'] },
  client: { ip: '192.0.2.1', hostname: null, helo: 'mail.example.org', user: null, tls: true, trusted: false },
  headers: Array.from({ length: 15 }, (_, i) => ({ name: `X-Header-${i}`, value: 'v'.repeat(60) })),
  subject: 'Quarterly report', text: 'Lorem ipsum dolor sit amet. '.repeat(140), textTruncated: false,
  urls: ['https://example.org/a'], attachments: [], size: 4096, findings: [], score: 0,
});
const source = `module.exports = (m) => /viagra/i.test(m.text) ? { findings: [{ symbol: 'PILLS', score: 5 }] } : null;`;
const pool = await ScriptPool.start({ scripts: [{ name: 'trivial.js', source }], size: 1, timeoutMs: 1000, memoryMb: MEMORY_MB, maxWaitMs: 5000, maxResultChars: 65536, log: quiet });
try {
  const [pid] = pool.pids();
  stages.child_ready = reading(pid);
  for (let i = 0; i < calls; i++) {
    const r = await pool.call(0, snapshot);
    if (!r.ok) throw new Error(JSON.stringify(r));
  }
  stages[`child_after_${calls}_calls`] = reading(pid);
  console.log(JSON.stringify({ unit: 'MB', memory_cap_mb: MEMORY_MB, flags: sandboxExecArgv(MEMORY_MB).filter((f) => !f.startsWith('--allow-fs-read')), stages }, null, 1));
} finally {
  await pool.close();
}
