// A full disk under load, with real parts: the gateway's data_dir on a small tmpfs, concurrent clients sending journaled
// and spooled (>128 KB) messages to a smarthost that is down, until the disk is full and beyond; a SIGKILL and restart
// while it is full; then the smarthost comes up and space frees. Every reply is 250, 452 4.3.1 or 451 4.x, and every
// 250 reaches the smarthost byte for byte. A second part fills the disk just as a message fails for good, so that its
// failure notice or its move to dead-letter hits the full disk.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, startGateway, type SpawnedGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type ReceivedMessage, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
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

interface Load { acked: Map<string, number>; replies: Map<string, number>; odd: string[]; stop(): void; done: Promise<void> }

/** Concurrent clients sending numbered messages; each reply is counted, and one that is neither 250 nor 4xx noted. */
function startLoad(port: number, clients: number, first = 0): Load {
  const acked = new Map<string, number>();
  const replies = new Map<string, number>();
  const odd: string[] = [];
  let next = first;
  let stopping = false;
  const worker = async () => {
    let d: SmtpDialog | undefined;
    while (!stopping) {
      const seq = next++;
      try {
        if (!d || d.closed) { d = await SmtpDialog.connect(port); await d.hello(); }
        await d.cmd(`MAIL FROM:<${SENDER}>`);
        for (const r of messageSpec(seq).rcpts) await d.cmd(`RCPT TO:<${r}>`);
        const reply = await d.data(messageText(seq));
        const key = `${reply.code} ${reply.text.slice(0, 5)}`;
        replies.set(key, (replies.get(key) ?? 0) + 1);
        if (reply.code === 250) acked.set(/queued as (\S+)/.exec(reply.text)![1], seq);
        else if (!(reply.code === 452 && reply.text.startsWith('4.3.1')) && !(reply.code === 451 && reply.text.startsWith('4.'))) odd.push(`${seq}: ${reply.code} ${reply.text}`);
        else { await d.cmd('RSET'); await sleep(20); }
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
  return { acked, replies, odd, stop: () => { stopping = true; }, done };
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
    const config = { smarthost: `smtp://127.0.0.1:${sinkPort}`, queue: { retry_schedule: ['200ms'], concurrency: 8 } };
    child = await spawnGateway({ dataDir, port, config });

    // The smarthost is down: every attempt defers, journaled messages move out to files, the disk fills.
    const load = startLoad(port, 6);
    // Too few is reported by the assertions below, once the load has stopped.
    await until(() => (load.replies.get('452 4.3.1') ?? 0) >= 15, 10_000, '15 replies of 452 4.3.1 (the disk full)').catch(() => undefined);
    load.stop();
    await load.done;
    assert.deepEqual(load.odd, [], 'no reply other than 250, 452 4.3.1 or 451 4.x, no dropped connection');
    assert.ok((load.replies.get('452 4.3.1') ?? 0) >= 15, `the disk filled: ${JSON.stringify([...load.replies])}`);
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
