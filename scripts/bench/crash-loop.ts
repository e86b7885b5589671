// Kill-and-restart check of the queue's promise: a message acknowledged with 250 is never lost, and is delivered.
// A real gateway (`moat start`, a child process) relays to a recording smarthost while concurrent SMTP clients send
// numbered messages (journaled ones, spooled ones over 128 KB, several recipients, one recipient deferred with 451,
// one refused with 550); it is SIGKILLed at random moments (while mail arrives, while the relay delivers, while a
// deferral moves a message out of the journal), restarted on the same data_dir, and finally left to drain.
// `test/core/queue/crash-loop.test.ts` runs a few rounds of it; run many by hand:
//   node scripts/bench/crash-loop.ts [--rounds=20] [--seed=N] [--clients=8]   (or CRASH_LOOP_SEED=N)
import { mkdtempSync, readdirSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { spawnGateway, type SpawnedGateway } from '../../test/helpers/gateway.ts';
import { startSmarthost, type ReceivedMessage, type Smarthost } from '../../test/helpers/smarthost.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { SmtpDialog } from '../../test/helpers/smtp-dialog.ts';
import { exitOnSignals, holdUntilExit } from '../../test/helpers/leftovers.ts';
import { readJournal } from '../../core/queue/journal.ts';
import { loadSealKey } from '../../core/queue/envelope-seal.ts';
import { seededRandom } from '../seeded-random.ts';

export const DEFERRED_RCPT = 'slow@example.com';
export const REFUSED_RCPT = 'gone@example.com';
const SENDER = 'load@client.example';
/** Relay workers of the gateway: a kill can interrupt at most this many deliveries, so it bounds the duplicates. */
export const RELAY_CONCURRENCY = 8;

export type KillMoment = 'arrival' | 'relay' | 'move';

export interface CrashLoopOptions {
  rounds: number;
  seed: number;
  clients?: number;
  /** How long the final drain may take before what is left counts as stuck. */
  drainMs?: number;
  log?: (line: string) => void;
  /** Keep the data dir of a run that found a problem, for a look at its files (its path is logged). */
  keepDir?: boolean;
}

export interface CrashLoopReport {
  seed: number;
  rounds: number;
  kills: Record<KillMoment, number>;
  /** Messages (by number) the clients got a 250 for, and how many of those were spooled to a file of their own. */
  acked: number;
  ackedLarge: number;
  /** Transactions the smarthost received: numbered messages and delivery status notifications. */
  received: number;
  dsns: number;
  /** Recipients that got a message (by queue id) more than once: the price of a kill between delivery and removal. */
  duplicates: number;
  /** Queue ids delivered whose 250 the client never saw (committed, then killed before the reply left). */
  deliveredWithout250: number;
  /** Acknowledged queue ids with a recipient that never got them (must be empty). */
  lost: string[];
  /** Received messages whose content is not what some client sent (must be empty). */
  corrupt: string[];
  /** Files or journal records left in the queue after the drain (must be empty). */
  leftInQueue: string[];
  /** Dead-letter entries that should not be there, and refused messages that are not there (must be empty). */
  deadLetterWrong: string[];
  /** Refused messages for which no failure notice reached the sender (must be empty). */
  missingDsn: string[];
  /** Starts that failed after a kill, and error lines the gateway logged (must be empty). */
  failures: string[];
  seconds: number;
}


/** What message number `seq` is: its recipients and whether it is large enough to get a file of its own. */
export function messageSpec(seq: number): { large: boolean; rcpts: string[] } {
  const rcpts = ['r0@example.com'];
  if (seq % 3 === 0) rcpts.push('r1@example.com', 'r2@example.com');
  if (seq % 4 === 1) rcpts.push(DEFERRED_RCPT);
  if (seq % 13 === 7) rcpts.push(REFUSED_RCPT);
  return { large: seq % 6 === 5, rcpts };
}

/** The body of message `seq`: every line names the message and its place, so a torn or mixed body is seen. */
export function bodyOf(seq: number): string {
  const lines = messageSpec(seq).large ? 2600 + (seq % 500) : 3 + (seq % 40);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`seq ${seq} line ${i} `.padEnd(76, String.fromCharCode(97 + ((seq + i) % 26))));
  return out.join('\r\n') + '\r\n';
}

function messageText(seq: number): string {
  const { rcpts } = messageSpec(seq);
  return `From: ${SENDER}\r\nTo: ${rcpts.join(', ')}\r\nSubject: crash loop ${seq}\r\nX-Seq: ${seq}\r\n` +
    `Message-ID: <crash-loop-${seq}@client.example>\r\n\r\n${bodyOf(seq)}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The queue id our Received header gives a relayed message. */
export function queueIdOf(m: ReceivedMessage): string | undefined {
  return /\(Mailmoat\) with \S+ id (\S+?)[;\s]/.exec(m.raw.toString('latin1'))?.[1];
}

/** Empty when `m` is a numbered message exactly as its client sent it (below the headers the gateway added). */
function contentProblem(m: ReceivedMessage): { seq: number; problem?: string } {
  const raw = m.raw.toString('latin1');
  const seq = Number(/^X-Seq: (\d+)\r$/m.exec(raw)?.[1] ?? NaN);
  if (!Number.isInteger(seq)) return { seq: -1, problem: 'no X-Seq header' };
  const split = raw.indexOf('\r\n\r\n');
  const body = raw.slice(split + 4);
  if (body !== bodyOf(seq)) return { seq, problem: `body differs (${body.length} bytes, expected ${bodyOf(seq).length})` };
  const rcpts = new Set(messageSpec(seq).rcpts);
  const stray = m.rcptTo.filter((r) => !rcpts.has(r));
  if (stray.length) return { seq, problem: `delivered to ${stray.join(', ')}, not a recipient of it` };
  return { seq };
}

interface Client { acked: Map<string, number>; ackedSeqs: Set<number>; stop(): void; done: Promise<void> }

/** Concurrent clients sending numbered messages; a message is resent on a new connection until it gets a 250. */
function startClients(port: number, count: number): Client {
  const acked = new Map<string, number>();
  const ackedSeqs = new Set<number>();
  let next = 0;
  let stopping = false;
  const worker = async () => {
    let d: SmtpDialog | undefined;
    let seq = -1;
    for (;;) {
      if (seq < 0) { if (stopping) break; seq = next++; }
      try {
        if (!d || d.closed) {
          d = await SmtpDialog.connect(port);
          if ((await d.hello()).code !== 250) throw new Error('EHLO');
        }
        if ((await d.cmd(`MAIL FROM:<${SENDER}>`)).code !== 250) throw new Error('MAIL');
        for (const r of messageSpec(seq).rcpts) if ((await d.cmd(`RCPT TO:<${r}>`)).code !== 250) throw new Error('RCPT');
        const reply = await d.data(messageText(seq));
        const qid = /queued as (\S+)/.exec(reply.text)?.[1];
        if (reply.code === 250 && qid) { acked.set(qid, seq); ackedSeqs.add(seq); seq = -1; continue; }
        if (reply.code >= 500) throw new Error(`refused for good: ${reply.code} ${reply.text}`);
        await d.cmd('RSET');
      } catch (e) {
        if (/refused for good/.test((e as Error).message)) throw e;
        d?.hangUp();
        d = undefined;
        await sleep(30);
      }
    }
    await d?.quit().catch(() => undefined);
  };
  const done = Promise.all(Array.from({ length: count }, worker)).then(() => undefined);
  return { acked, ackedSeqs, stop: () => { stopping = true; }, done };
}

/** Waits for the moment of a kill; resolves at the latest after `capMs`. */
async function killMoment(kind: KillMoment, rnd: () => number, sink: Smarthost, queueDir: string, capMs = 4000): Promise<void> {
  if (kind === 'arrival') { await sleep(100 + rnd() * 1100); return; }
  if (kind === 'relay') {
    const target = sink.messages.length + 1 + Math.floor(rnd() * 25);
    const deadline = Date.now() + capMs;
    while (sink.messages.length < target && Date.now() < deadline) await sleep(1);
    return;
  }
  // A new file in queue/: a deferral moving a message out of the journal (.eml, then .json) or a state rewrite.
  await sleep(rnd() * 400);
  await new Promise<void>((resolve) => {
    let w: FSWatcher | undefined;
    const end = () => { w?.close(); clearTimeout(t); resolve(); };
    const t = setTimeout(end, capMs);
    try { w = watch(queueDir, (_ev, name) => { if (name && /\.(eml|json|tmp)$/.test(name)) end(); }); } catch { end(); }
  });
}

function errorLines(output: string[]): string[] {
  return output.join('').split('\n').filter((l) => /"level":"(error|fatal)"/.test(l)).map((l) => l.slice(0, 300));
}

export async function runCrashLoop(opts: CrashLoopOptions): Promise<CrashLoopReport> {
  const log = opts.log ?? (() => undefined);
  const rnd = seededRandom(opts.seed);
  const started = Date.now();
  const sink = await startSmarthost();
  sink.rcptReplies.set(DEFERRED_RCPT, 451);
  sink.rcptReplies.set(REFUSED_RCPT, 550);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-crash-loop-'));
  const endDir = opts.keepDir ? () => rmSync(dataDir, { recursive: true, force: true }) : holdUntilExit({ dir: dataDir });
  let result: CrashLoopReport | undefined;
  const queueDir = path.join(dataDir, 'queue');
  const port = await freePort();
  const config = { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['300ms'], concurrency: RELAY_CONCURRENCY } };
  const kills: Record<KillMoment, number> = { arrival: 0, relay: 0, move: 0 };
  const failures: string[] = [];
  let child: SpawnedGateway | undefined;
  let clients: Client | undefined;
  const start = async () => {
    try { child = await spawnGateway({ dataDir, port, config }); } catch (e) {
      failures.push(`start failed: ${(e as Error).message.slice(0, 2000)}`);
      throw e;
    }
  };
  try {
    await start();
    clients = startClients(port, opts.clients ?? 8);
    for (let round = 1; round <= opts.rounds; round++) {
      const kind = (['arrival', 'relay', 'move'] as const)[Math.floor(rnd() * 3)];
      await killMoment(kind, rnd, sink, queueDir);
      child!.child.kill('SIGKILL');
      await child!.kill('SIGKILL');
      failures.push(...errorLines(child!.output));
      kills[kind]++;
      log(`round ${round}: killed ${kind === 'arrival' ? 'while mail arrives' : kind === 'relay' ? 'while the relay delivers' : 'as a queue file appeared'}; ` +
        `${clients.acked.size} acknowledged, ${sink.messages.length} received so far`);
      await start();
    }
    // Let the last gateway live: no more new messages, the deferred recipient accepts again, everything drains.
    await sleep(300 + rnd() * 500);
    clients.stop();
    await clients.done;
    sink.rcptReplies.delete(DEFERRED_RCPT);
    const expected = expectedDeliveries(clients.acked);
    const deadline = Date.now() + (opts.drainMs ?? 30_000);
    while (Date.now() < deadline) {
      if (missing(expected, sink).length === 0 && queueLeft(dataDir).length === 0) break;
      await sleep(100);
    }
    await sleep(300); // a duplicate in flight would land now
    await child!.kill('SIGTERM');
    failures.push(...errorLines(child!.output));
    child = undefined;
    result = report(opts, clients, sink, dataDir, kills, failures, started);
    return result;
  } finally {
    clients?.stop();
    await child?.kill('SIGKILL');
    await sink.stop();
    if (opts.keepDir && (!result || problems(result) > 0)) log(`data dir kept: ${dataDir}`);
    else endDir();
  }
}

/** Every (queue id, recipient) an acknowledged message must reach: all its recipients but the refused one. */
function expectedDeliveries(acked: Map<string, number>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [qid, seq] of acked) for (const r of messageSpec(seq).rcpts) if (r !== REFUSED_RCPT) out.push([qid, r]);
  return out;
}

function deliveredPairs(sink: Smarthost): Map<string, number> {
  const got = new Map<string, number>();
  for (const m of sink.messages) {
    if (m.mailFrom === '') continue;
    const qid = queueIdOf(m);
    for (const r of m.rcptTo) got.set(`${qid} ${r}`, (got.get(`${qid} ${r}`) ?? 0) + 1);
  }
  return got;
}

function missing(expected: Array<[string, string]>, sink: Smarthost): string[] {
  const got = deliveredPairs(sink);
  return expected.filter(([q, r]) => !got.has(`${q} ${r}`)).map(([q, r]) => `${q} to ${r}`);
}

/** What is still queued: files in queue/ and live journal records. */
function queueLeft(dataDir: string): string[] {
  const files = readdirSync(path.join(dataDir, 'queue'));
  const records = readJournal(path.join(dataDir, 'journal'), loadSealKey(path.join(dataDir, 'queue.key')));
  return [...files, ...records.map((r) => `journal record ${r.entry.id}`)];
}

function report(opts: CrashLoopOptions, clients: Client, sink: Smarthost, dataDir: string, kills: Record<KillMoment, number>,
  failures: string[], started: number): CrashLoopReport {
  const corrupt: string[] = [];
  const deliveredQids = new Set<string>();
  const dsns = sink.messages.filter((m) => m.mailFrom === '');
  for (const m of sink.messages) {
    if (m.mailFrom === '') continue;
    const { seq, problem } = contentProblem(m);
    if (problem) corrupt.push(`message ${seq} (${queueIdOf(m)}): ${problem}`);
    const qid = queueIdOf(m);
    if (qid) deliveredQids.add(qid); else corrupt.push(`message ${seq}: no queue id in its Received field`);
  }
  const pairs = deliveredPairs(sink);
  const duplicates = [...pairs.values()].reduce((n, c) => n + c - 1, 0);
  const refusedAcked = [...clients.acked].filter(([, seq]) => messageSpec(seq).rcpts.includes(REFUSED_RCPT)).map(([q]) => q);
  // Refused messages go to dead-letter after their notice; any other entry there, or a broken state file, is wrong.
  const deadLetterWrong: string[] = [];
  const dead = readdirSync(path.join(dataDir, 'deadletter'));
  for (const f of dead) {
    if (!f.endsWith('.json')) continue;
    if (f.endsWith('.broken.json')) { deadLetterWrong.push(`${f}: a state file recovery could not read`); continue; }
    const e = JSON.parse(readFileSync(path.join(dataDir, 'deadletter', f), 'utf8')) as { recipients: Array<{ address: string; status: string }> };
    const failed = e.recipients.filter((r) => r.status === 'failed').map((r) => r.address);
    if (failed.length !== 1 || failed[0] !== REFUSED_RCPT) deadLetterWrong.push(`${f}: failed ${failed.join(', ') || 'nobody'}`);
  }
  for (const q of refusedAcked) if (!dead.includes(`${q}.eml`) || !dead.includes(`${q}.json`)) deadLetterWrong.push(`${q}: refused, not in dead-letter`);
  const missingDsn = refusedAcked.filter((q) => !dsns.some((m) => m.raw.toString('latin1').includes(q)));
  return {
    seed: opts.seed, rounds: opts.rounds, kills,
    acked: clients.acked.size,
    ackedLarge: [...clients.acked.values()].filter((s) => messageSpec(s).large).length,
    received: sink.messages.length, dsns: dsns.length, duplicates,
    deliveredWithout250: [...deliveredQids].filter((q) => !clients.acked.has(q)).length,
    lost: missing(expectedDeliveries(clients.acked), sink),
    corrupt, leftInQueue: queueLeft(dataDir), deadLetterWrong, missingDsn, failures,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Findings that break the promise or the drain (duplicates after a kill are not among them). */
export function problems(r: CrashLoopReport): number {
  return r.lost.length + r.corrupt.length + r.leftInQueue.length + r.deadLetterWrong.length + r.missingDsn.length + r.failures.length;
}

export function summary(r: CrashLoopReport): string {
  const k = r.kills;
  return [
    `seed ${r.seed}: ${r.rounds} rounds (kills: ${k.arrival} while mail arrives, ${k.relay} while the relay delivers, ${k.move} as a queue file appeared), ${r.seconds.toFixed(1)} s`,
    `acknowledged ${r.acked} (${r.ackedLarge} over 128 KB), received ${r.received} transactions (${r.dsns} failure notices), ` +
      `duplicates ${r.duplicates}, delivered without a 250 ${r.deliveredWithout250}`,
    `lost ${r.lost.length}, corrupt ${r.corrupt.length}, left in queue ${r.leftInQueue.length}, dead-letter wrong ${r.deadLetterWrong.length}, ` +
      `missing notices ${r.missingDsn.length}, failures ${r.failures.length}`,
    ...[...r.lost, ...r.corrupt, ...r.leftInQueue, ...r.deadLetterWrong, ...r.missingDsn.map((q) => `no notice for ${q}`), ...r.failures]
      .slice(0, 20).map((l) => `  ${l}`),
  ].join('\n');
}

/** The seed of a run: CRASH_LOOP_SEED when set, else a fresh one (printed, so the run can be replayed). */
export function crashLoopSeed(): number {
  const env = process.env.CRASH_LOOP_SEED;
  return env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: {
    rounds: { type: 'string', default: '20' }, seed: { type: 'string' }, clients: { type: 'string', default: '8' },
  } });
  exitOnSignals();
  const seed = values.seed !== undefined ? Number(values.seed) : crashLoopSeed();
  console.log(`crash loop: seed ${seed} (replay with --seed=${seed})`);
  const r = await runCrashLoop({ rounds: Number(values.rounds), seed, clients: Number(values.clients), log: (l) => console.log(l), drainMs: 60_000, keepDir: true });
  console.log(summary(r));
  process.exitCode = problems(r) ? 1 : 0;
}
