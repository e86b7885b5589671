// A full disk under load, with real parts: the gateway's data_dir on a small tmpfs, concurrent pipelining clients
// sending journaled and spooled (>128 KB) messages to a smarthost that is down, until the disk is full and beyond; a
// SIGKILL and restart while it is full; then the smarthost comes up and space frees. Every transaction ends in 250,
// 452 4.3.1 or 451 4.x, a client is never dropped for the gateway's disk trouble, and every 250 reaches the smarthost
// byte for byte. A second part fills the disk just as a message fails for good, so that its failure notice or its
// move to dead-letter hits the full disk.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, startGateway, type SpawnedGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type ReceivedMessage, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { REFUSED_RCPT, bodyOf, messageSpec, queueIdOf } from '../../../scripts/bench/crash-loop.ts';
import { sendMail, sleep, until } from './send.ts';

const SENDER = 'load@client.example';

/** Writes zeros to `file` until the filesystem refuses (ENOSPC). */
function fill(file: string): void {
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(16 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally { closeSync(fd); }
}

function mountTmpfs(size: string): string {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root');
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'mm-full-load-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (e) {
    rmdirSync(mnt);
    throw new Error(`cannot mount a tmpfs on ${mnt} (this test needs root and mount): ${(e as Error).message}`);
  }
  return mnt;
}

function unmount(mnt: string): void {
  execFileSync('umount', ['-l', mnt]);
  rmdirSync(mnt);
}

function messageText(seq: number): string {
  return `From: ${SENDER}\r\nTo: ${messageSpec(seq).rcpts.join(', ')}\r\nSubject: full disk ${seq}\r\nX-Seq: ${seq}\r\n\r\n${bodyOf(seq)}`;
}

/** The replies to one transaction: to MAIL, to each RCPT, to DATA, and after the message when DATA got 354. */
interface TransactionReplies { mail: SmtpReply; rcpts: SmtpReply[]; data: SmtpReply; final?: SmtpReply }

/** Sends message `seq` as a client offered PIPELINING does: MAIL, the RCPTs and DATA in one write, the message after the 354. */
async function sendPipelined(d: SmtpDialog, seq: number): Promise<TransactionReplies> {
  const rcpts = messageSpec(seq).rcpts;
  d.write([`MAIL FROM:<${SENDER}>`, ...rcpts.map((r) => `RCPT TO:<${r}>`), 'DATA', ''].join('\r\n'));
  const mail = await d.read();
  const rcptReplies: SmtpReply[] = [];
  for (let i = 0; i < rcpts.length; i++) rcptReplies.push(await d.read());
  const data = await d.read();
  if (data.code !== 354) return { mail, rcpts: rcptReplies, data };
  d.write(`${messageText(seq).replace(/(^|\r\n)\./g, '$1..')}.\r\n`);
  return { mail, rcpts: rcptReplies, data, final: await d.read(30_000) };
}

/** A temporary refusal for the full disk (452 4.3.1) or another local trouble (451 4.x). */
const isTempRefusal = (r: SmtpReply) => (r.code === 452 && r.text.startsWith('4.3.1')) || (r.code === 451 && r.text.startsWith('4.'));

/**
 * What a transaction's replies say it came to: the reply that decided it (a refusal of MAIL, a refusal of DATA, or
 * the reply after the message), and what was wrong with them, if anything. While the disk is known full MAIL gets
 * 452 4.3.1, and the RCPTs and DATA pipelined with it then get 503 (no transaction is open): those follow from
 * the refusal, they are not replies of their own.
 */
function judge(t: TransactionReplies): { decided: SmtpReply; wrong?: string } {
  if (t.mail.code !== 250) {
    if (!isTempRefusal(t.mail)) return { decided: t.mail, wrong: `MAIL answered ${t.mail.code} ${t.mail.text}` };
    const unexpected = [...t.rcpts, t.data].find((r) => r.code !== 503);
    return { decided: t.mail, wrong: unexpected && `after MAIL got ${t.mail.code}, ${unexpected.code} ${unexpected.text}` };
  }
  const rcpt = t.rcpts.find((r) => r.code !== 250 && !isTempRefusal(r));
  if (rcpt) return { decided: rcpt, wrong: `RCPT answered ${rcpt.code} ${rcpt.text}` };
  const decided = t.final ?? t.data;
  return { decided, wrong: decided.code === 250 || isTempRefusal(decided) ? undefined : `${decided.code} ${decided.text}` };
}

interface Load {
  acked: Map<string, number>;
  /** Transactions by the reply that decided them (`452 4.3.1`, `250 2.0.0`). */
  replies: Map<string, number>;
  odd: string[];
  /** The most MAIL refusals one connection went on after. */
  mostMailRefusalsOnOneConnection(): number;
  stop(): void;
  done: Promise<void>;
}

/** Concurrent pipelining clients sending numbered messages; each transaction is judged, and anything else noted. */
function startLoad(port: number, clients: number, first = 0): Load {
  const acked = new Map<string, number>();
  const replies = new Map<string, number>();
  const odd: string[] = [];
  let mostMailRefusals = 0;
  let next = first;
  let stopping = false;
  const worker = async () => {
    let d: SmtpDialog | undefined;
    let mailRefusals = 0;
    while (!stopping) {
      const seq = next++;
      try {
        if (!d || d.closed) { d = await SmtpDialog.connect(port); await d.hello(); mailRefusals = 0; }
        const t = await sendPipelined(d, seq);
        const { decided, wrong } = judge(t);
        const key = `${decided.code} ${decided.text.slice(0, 5)}`;
        replies.set(key, (replies.get(key) ?? 0) + 1);
        if (wrong) odd.push(`${seq}: ${wrong}`);
        else if (decided.code === 250) acked.set(/queued as (\S+)/.exec(decided.text)![1], seq);
        else {
          if (t.mail.code !== 250) mostMailRefusals = Math.max(mostMailRefusals, ++mailRefusals);
          // The connection goes on, as a client's does: its 503s were not counted as its errors.
          const rset = await d.cmd('RSET');
          if (rset.code !== 250) odd.push(`${seq}: RSET answered ${rset.code} ${rset.text}`);
          await sleep(20);
        }
      } catch (e) {
        // A dropped connection is only fine while the gateway is being killed; the caller checks `odd` around that.
        odd.push(`${seq}: ${(e as Error).message}`);
        d?.hangUp();
        d = undefined;
        await sleep(30);
      }
    }
    await d?.quit().catch(() => undefined);
  };
  const done = Promise.all(Array.from({ length: clients }, worker)).then(() => undefined);
  return { acked, replies, odd, mostMailRefusalsOnOneConnection: () => mostMailRefusals, stop: () => { stopping = true; }, done };
}

/** Acknowledged (queue id, recipient) pairs not delivered, and delivered messages whose bytes differ from those sent. */
function check(acked: Map<string, number>, sink: Smarthost): { missing: string[]; corrupt: string[] } {
  const got = new Set<string>();
  const corrupt: string[] = [];
  for (const m of sink.messages) {
    if (m.mailFrom === '') continue;
    const raw = m.raw.toString('latin1');
    const seq = Number(/^X-Seq: (\d+)\r$/m.exec(raw)?.[1]);
    if (raw.slice(raw.indexOf('\r\n\r\n') + 4) !== bodyOf(seq)) corrupt.push(`${seq} (${queueIdOf(m)})`);
    for (const r of m.rcptTo) got.add(`${queueIdOf(m)} ${r}`);
  }
  const missing: string[] = [];
  for (const [qid, seq] of acked) for (const r of messageSpec(seq).rcpts) if (r !== REFUSED_RCPT && !got.has(`${qid} ${r}`)) missing.push(`${qid} (${seq}) to ${r}`);
  return { missing, corrupt };
}

describe('queue: disk full under load', function () {
  this.timeout(60_000);
  let mnt: string;
  let child: SpawnedGateway | undefined;
  let sink: Smarthost | undefined;

  beforeEach(() => { mnt = mountTmpfs('8m'); });
  afterEach(async () => {
    await child?.kill('SIGKILL');
    child = undefined;
    await sink?.stop();
    sink = undefined;
    unmount(mnt);
  });

  it('answers only 250, 452 4.3.1 or 451 4.x, survives a SIGKILL while full, and delivers every 250 once space frees', async () => {
    const dataDir = path.join(mnt, 'data');
    mkdirSync(dataDir);
    const sinkPort = await freePort();
    const port = await freePort();
    // max_errors low: a refused MAIL brings at least two 503s (a RCPT's and DATA's), so a client would be dropped at
    // its second refusal on a connection if they counted.
    const config = { smarthost: `smtp://127.0.0.1:${sinkPort}`, queue: { retry_schedule: ['200ms'], concurrency: 8 }, limits: { max_errors: 3 } };
    child = await spawnGateway({ dataDir, port, config });

    // The smarthost is down: every attempt defers, journaled messages move out to files, the disk fills.
    const load = startLoad(port, 6);
    // Too few is reported by the assertions below, once the load has stopped.
    await until(() => (load.replies.get('452 4.3.1') ?? 0) >= 15 && load.mostMailRefusalsOnOneConnection() >= 3, 10_000,
      '15 transactions refused 452 4.3.1 (the disk full), 3 of them at MAIL on one connection').catch(() => undefined);
    load.stop();
    await load.done;
    assert.deepEqual(load.odd, [], 'every transaction ends in 250, 452 4.3.1 or 451 4.x, no dropped connection');
    assert.ok((load.replies.get('452 4.3.1') ?? 0) >= 15, `the disk filled: ${JSON.stringify([...load.replies])}`);
    assert.ok(load.mostMailRefusalsOnOneConnection() >= 3, `a client went on after 3 refusals at MAIL (${load.mostMailRefusalsOnOneConnection()})`);
    const large = [...load.acked.values()].filter((s) => messageSpec(s).large).length;
    assert.ok(load.acked.size >= 20 && large >= 3, `a real load was acknowledged (${load.acked.size}, ${large} large)`);
    const out = child.output.join('');
    assert.match(out, /"code":"ENOSPC"/, 'the gateway logs why it refuses');

    // Killed while full, restarted on the full disk: it must start, and refuse with 452 rather than fail.
    fill(path.join(mnt, 'filler'));
    await child.kill('SIGKILL');
    child = await spawnGateway({ dataDir, port, config });
    const refused = await sendMail(port, { from: SENDER, to: ['r0@example.com'], subject: 'while full', body: 'x'.repeat(200 * 1024) });
    assert.equal(refused.code, 452, refused.text);

    // Space frees and the smarthost comes up: everything acknowledged drains, and new mail is taken without a restart.
    unlinkSync(path.join(mnt, 'filler'));
    sink = await startSmarthost({ port: sinkPort });
    sink.rcptReplies.set(REFUSED_RCPT, 550);
    await until(() => check(load.acked, sink!).missing.length === 0, 20_000, 'every acknowledged message delivered')
      .catch(() => assert.deepEqual(check(load.acked, sink!).missing, [], 'every acknowledged message delivered'));
    assert.deepEqual(check(load.acked, sink).corrupt, [], 'delivered byte for byte');
    const after = startLoad(port, 2, 100_000);
    await until(() => after.acked.size >= 5, 10_000, 'new mail accepted after space freed');
    after.stop();
    await after.done;
    assert.deepEqual(after.odd, []);
    await until(() => check(after.acked, sink!).missing.length === 0, 10_000, 'new mail delivered');
    assert.deepEqual(child.output.join('').split('\n').filter((l) => /"level":"fatal"/.test(l)), []);
  });
});

describe('queue: a full disk refuses MAIL, and a pipelining client is not dropped for it', function () {
  this.timeout(30_000);
  let mnt: string;
  let gw: TestGateway | undefined;

  beforeEach(() => { mnt = mountTmpfs('4m'); });
  afterEach(async () => { await gw?.stop(); gw = undefined; unmount(mnt); });

  it('does not count the 503s to the RCPTs and DATA pipelined with a MAIL refused 452 4.3.1, up to max_recipients RCPTs', async () => {
    const dataDir = path.join(mnt, 'data');
    mkdirSync(dataDir);
    gw = await startGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${await freePort()}`, limits: { max_errors: 3, max_recipients: 3 } } });
    fill(path.join(mnt, 'filler'));
    // The message the full disk refuses marks it full: from then on MAIL is refused.
    const first = await sendMail(gw.port, { from: SENDER, to: ['r0@example.com'], subject: 'fills', body: 'x'.repeat(200 * 1024) });
    assert.equal(`${first.code} ${first.text.slice(0, 5)}`, '452 4.3.1', first.text);

    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      const batch = (rcpts: number) => d.write([`MAIL FROM:<${SENDER}>`, ...Array.from({ length: rcpts }, (_, i) => `RCPT TO:<r${i}@example.com>`), 'DATA', ''].join('\r\n'));
      // Five messages of max_recipients recipients: 20 refusals of smtp-server's, past max_errors five times over.
      for (let m = 0; m < 5; m++) {
        batch(3);
        const mail = await d.read();
        assert.equal(`${mail.code} ${mail.text.slice(0, 5)}`, '452 4.3.1', mail.text);
        for (let i = 0; i < 4; i++) assert.equal((await d.read()).code, 503, `message ${m}, reply ${i + 2}`);
      }
      assert.equal((await d.cmd('NOOP')).code, 250, 'the client is still served');

      // More RCPTs than a message may have: past max_recipients they count again, and max_errors ends the session at
      // the command after the one that reached it (the DATA).
      batch(6);
      assert.equal((await d.read()).code, 452);
      const rcpts: number[] = [];
      for (let i = 0; i < 7; i++) rcpts.push((await d.read()).code);
      assert.deepEqual(rcpts, [503, 503, 503, 503, 503, 503, 421]);
      await until(() => d.closed, 5000, 'the connection closed after the 421');
    } finally {
      d.hangUp();
    }
  });
});

describe('queue: disk full as a message fails for good', function () {
  this.timeout(30_000);
  let mnt: string;
  let gw: TestGateway | undefined;
  let sink: Smarthost | undefined;

  beforeEach(() => { mnt = mountTmpfs('4m'); });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
    await sink?.stop();
    sink = undefined;
    unmount(mnt);
  });

  /** A message to one good and one refused recipient, deferred once (smarthost down), then the disk filled and the smarthost up. */
  async function failOnFullDisk(bounces: 'all' | 'off'): Promise<{ qid: string; dataDir: string; filler: string }> {
    const dataDir = path.join(mnt, 'data');
    mkdirSync(dataDir);
    const sinkPort = await freePort();
    gw = await startGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${sinkPort}`, queue: { retry_schedule: ['300ms'], bounces: { send: bounces } } } });
    const sent = await sendMail(gw.port, { from: SENDER, to: ['r0@example.com', REFUSED_RCPT], subject: 'fails', body: 'short\r\n' });
    assert.equal(sent.code, 250);
    const qid = sent.queueId!;
    await until(() => existsSync(path.join(dataDir, 'queue', `${qid}.json`)), 5000, 'the deferral moved it out of the journal');
    const filler = path.join(mnt, 'filler');
    fill(filler);
    sink = await startSmarthost({ port: sinkPort });
    sink.rcptReplies.set(REFUSED_RCPT, 550);
    await sink.waitFor(1, 5000);
    await until(() => gw!.logs.some((l) => l.code === 'ENOSPC' && l.qid === qid), 5000, 'the failure hit the full disk');
    return { qid, dataDir, filler };
  }

  it('a move to dead-letter that hits the full disk is retried once space frees, without a restart', async () => {
    const { qid, dataDir, filler } = await failOnFullDisk('off');
    unlinkSync(filler);
    await until(() => existsSync(path.join(dataDir, 'deadletter', `${qid}.json`)), 5000, 'the message in dead-letter');
    // The move writes dead-letter's files first and removes the queue's after: wait for the end of it, not its middle.
    await until(() => readdirSync(path.join(dataDir, 'queue')).length === 0, 5000, 'the queue folder emptied by the move');
    assert.deepEqual(readdirSync(path.join(dataDir, 'queue')), []);
    assert.equal((await gw!.gateway.runtime.queue.list()).length, 0);
    assert.equal(sink!.messages.filter((m) => m.rcptTo.includes('r0@example.com')).length, 1, 'the good recipient got it once');
  });

  it('a failure notice that hits the full disk is written once space frees, and the message then goes to dead-letter', async () => {
    const { qid, dataDir, filler } = await failOnFullDisk('all');
    unlinkSync(filler);
    await until(() => existsSync(path.join(dataDir, 'deadletter', `${qid}.json`)), 5000, 'the message in dead-letter');
    await until(() => sink!.messages.some((m) => m.mailFrom === '' && m.raw.toString().includes(qid)), 5000, 'the failure notice');
    assert.equal(sink!.messages.filter((m) => m.mailFrom === '').length, 1, 'one notice');
    assert.equal(sink!.messages.filter((m) => m.rcptTo.includes('r0@example.com')).length, 1, 'the good recipient got it once');
    await until(async () => (await gw!.gateway.runtime.queue.list()).length === 0, 5000, 'an empty queue');
  });
});
