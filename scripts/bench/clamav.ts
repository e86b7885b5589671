// Benchmark: the same messages scanned by clamd directly and through the clamav plugin's data hook, in one run.
//
// "Directly" is the thinnest INSTREAM client possible: the whole file in one chunk on a fresh socket. The plugin
// adds its size check, scan slot, 64 KiB chunking with backpressure from the spool file, and result handling.
// A second part sends the same messages over SMTP to two in-process gateways, with and without the plugin: the
// difference is what the plugin adds to the client's wait, set against the direct scan time.
// Usage: node scripts/bench/clamav.ts [--rounds N]   (starts a private clamd with the test signatures)
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import plugin from '../../plugins/clamav/index.ts';
import { configSchema } from '../../plugins/clamav/config.ts';
import { validate } from '../../core/config/schema.ts';
import type { HookContext, Logger, PluginSetup } from '../../core/index.ts';
import { startClamd } from '../../test/helpers/clamd.ts';
import { exitOnSignals, holdUntilExit } from '../../test/helpers/leftovers.ts';
import { startGateway } from '../../test/helpers/gateway.ts';
import { SmtpDialog } from '../../test/helpers/smtp-dialog.ts';
import { cleanMessage, eicarInZip, withAttachments } from '../../test/plugins/clamav/fixtures.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '40' } } });
const rounds = Number(values.rounds);

function directScan(socket: string, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = fs.readFileSync(file);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const s = net.createConnection({ path: socket });
    const out: Buffer[] = [];
    s.on('connect', () => s.write(Buffer.concat([Buffer.from('zINSTREAM\0'), len, body, Buffer.alloc(4)])));
    s.on('data', (d) => { out.push(d); if (d.includes(0)) { s.destroy(); resolve(Buffer.concat(out).toString()); } });
    s.on('error', reject);
  });
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

function context(file: string, findings: string[]): HookContext {
  const size = fs.statSync(file).size;
  return {
    hook: 'data', log: quiet, recipients: [], findings: [], state: {}, connectionState: {},
    // Read the way core/message/spooled-message.ts does.
    message: { id: 'bench', path: file, size, stream: () => fs.createReadStream(file, { highWaterMark: 256 * 1024 }), raw: async () => fs.readFileSync(file) },
    addFinding: (symbol: string) => { findings.push(symbol); },
    addHeader() {}, removeHeader() {}, rewriteMessage: async () => {},
  } as unknown as HookContext;
}

exitOnSignals();
const clamd = await startClamd({ streamMaxLength: '50M' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bench-clamav-'));
const endDir = holdUntilExit({ dir });
try {
  const messages: Array<[string, string | Buffer]> = [
    ['clean 1 KB', cleanMessage()],
    ['clean 300 KB attachment', withAttachments('pdf', 'report', [['r.bin', 'application/octet-stream', Buffer.alloc(300 * 1024, 7)]])],
    ['clean 4 MB attachment', withAttachments('big', 'data', [['d.bin', 'application/octet-stream', Buffer.alloc(4 * 1024 * 1024, 9)]])],
    ['EICAR in zip', eicarInZip()],
  ];
  const files = messages.map(([name, content], i) => { const f = path.join(dir, `${i}.eml`); fs.writeFileSync(f, content); return { name, file: f }; });
  const cfg = validate(configSchema, { socket: clamd.socket }).value;
  const inst = await plugin.create(cfg, { log: quiet, configDir: dir } as unknown as PluginSetup);
  const hook = inst.hooks.data!;

  const time = async (fn: () => Promise<unknown>) => { const t0 = performance.now(); await fn(); return performance.now() - t0; };
  const samples = files.map(() => ({ direct: [] as number[], plugin: [] as number[] }));
  // Per message: a warm-up, then pairs in alternating order so load changes hit both ways alike. One message
  // at a time, so clamd's clean-up after a big scan does not land on the next small one.
  for (const [i, f] of files.entries()) {
    for (let w = 0; w < 5; w++) { await directScan(clamd.socket, f.file); await hook(context(f.file, [])); }
    for (let r = 0; r < rounds; r++) {
      const findings: string[] = [];
      const ctx = context(f.file, findings);
      if (r % 2 === 0) samples[i].plugin.push(await time(async () => hook(ctx)));
      samples[i].direct.push(await time(() => directScan(clamd.socket, f.file)));
      if (r % 2 === 1) samples[i].plugin.push(await time(async () => hook(ctx)));
      if (f.name.includes('EICAR') !== findings.includes('CLAM_VIRUS')) throw new Error(`wrong verdict for ${f.name}`);
    }
  }
  // Medians: the machine is shared, and a mean is dragged by the odd stall of either side.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`clamav plugin vs direct clamd INSTREAM, ${rounds} rounds, median per message`);
  let sumD = 0;
  let sumP = 0;
  for (const [i, f] of files.entries()) {
    const d = median(samples[i].direct);
    const p = median(samples[i].plugin);
    sumD += d; sumP += p;
    console.log(`  ${f.name.padEnd(24)} direct ${d.toFixed(2).padStart(7)} ms  plugin ${p.toFixed(2).padStart(7)} ms  overhead ${((p / d - 1) * 100).toFixed(1).padStart(6)} %`);
  }
  console.log(`  ${'all'.padEnd(24)} direct ${sumD.toFixed(2).padStart(7)} ms  plugin ${sumP.toFixed(2).padStart(7)} ms  overhead ${((sumP / sumD - 1) * 100).toFixed(1).padStart(6)} % (goal < 10 %)`);
  await inst.close?.();

  // Over SMTP: one open session per gateway, MAIL/RCPT/DATA per message, delivery to files.
  const plain = await startGateway({ config: { log: { level: 'error' } } });
  const scanning = await startGateway({ config: { log: { level: 'debug' }, plugins: [{ name: 'clamav', socket: clamd.socket }] } });
  try {
    const sessions = await Promise.all([plain, scanning].map(async (g) => { const c = await SmtpDialog.connect(g.port); await c.hello(); return c; }));
    const deliver = async (c: SmtpDialog, content: string | Buffer) => {
      await c.cmd('MAIL FROM:<a@example.org>');
      await c.cmd('RCPT TO:<b@example.com>');
      const r = await c.data(content);
      if (r.code !== 250 && r.code !== 554) throw new Error(`${r.code} ${r.text}`);
    };
    // Wait for the background delivery of the last message, so its copy and fsync do not land on the next timing.
    const settle = async (dataDir: string) => {
      while (fs.readdirSync(path.join(dataDir, 'queue')).some((f) => f.endsWith('.json'))) await new Promise((r) => setTimeout(r, 5));
    };
    const timed = async (k: 0 | 1, content: string | Buffer) => {
      const ms = await time(() => deliver(sessions[k], content));
      await settle([plain, scanning][k].dataDir);
      return ms;
    };
    const smtpRounds = Math.max(10, Math.floor(rounds / 2));
    console.log(`over SMTP, ${smtpRounds} rounds, median per message: gateway with the plugin minus without, against the direct scan`);
    let sumAdded = 0;
    let sumDirect = 0;
    let sumOwn = 0;
    let sumOwnDirect = 0;
    for (const [i, [name, content]] of messages.entries()) {
      const withPlugin: number[] = [];
      const without: number[] = [];
      for (let w = 0; w < 3; w++) { await timed(0, content); await timed(1, content); }
      for (let r = 0; r < smtpRounds; r++) {
        if (r % 2 === 0) withPlugin.push(await timed(1, content));
        without.push(await timed(0, content));
        if (r % 2 === 1) withPlugin.push(await timed(1, content));
      }
      // The plugin logs its own scan time for a clean message: the scan as the gateway runs it, without the SMTP around it.
      const inGateway = scanning.logs.filter((l) => l.msg === 'virus scan clean').map((l) => Number(l.ms));
      scanning.logs.length = 0;
      const own = inGateway.length ? median(inGateway) : NaN;
      const added = median(withPlugin) - median(without);
      const d = median(samples[i].direct);
      sumAdded += added; sumDirect += d;
      if (inGateway.length) { sumOwn += own; sumOwnDirect += d; }
      console.log(`  ${name.padEnd(24)} without ${median(without).toFixed(2).padStart(7)} ms  with ${median(withPlugin).toFixed(2).padStart(7)} ms  added ${added.toFixed(2).padStart(7)} ms  scan in gateway ${inGateway.length ? `${own.toFixed(2).padStart(7)} ms` : '(logged for clean mail only)'}  direct ${d.toFixed(2).padStart(7)} ms`);
    }
    console.log(`  ${'all'.padEnd(24)} added ${sumAdded.toFixed(2)} ms for ${sumDirect.toFixed(2)} ms of direct scanning: ${((sumAdded / sumDirect - 1) * 100).toFixed(1)} % over`);
    console.log(`  ${'clean ones'.padEnd(24)} scan in gateway ${sumOwn.toFixed(2)} ms against ${sumOwnDirect.toFixed(2)} ms direct: ${((sumOwn / sumOwnDirect - 1) * 100).toFixed(1)} % over`);
    for (const c of sessions) await c.quit();
  } finally {
    await plain.stop();
    await scanning.stop();
  }
} finally {
  await clamd.close();
  endDir();
}
