// A full disk and the recipients of one message: r1 delivered while the message's state cannot be rewritten (the
// data_dir on a small tmpfs, filled), r2 still deferred; a clean stop, space freed, a restart: the smarthost gets r1
// once, whether the message was in queue/ (a state file) or still in the journal. And MAIL FROM is refused (452
// 4.3.1) while the disk is full, rather than after the body.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { fillDisk } from './fill-disk.ts';
import { startHopProxy, type HopProxy } from './hop-proxy.ts';
import { moatQueue } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

const NOT_WRITTEN = 'delivery attempt made, but the message state could not be written: kept in memory; retrying later';
const R1 = 'r1@example.com';
const R2 = 'r2@example.com';

describe('queue: recipients delivered while the disk is full', function () {
  this.timeout(60_000);
  let mnt = '';
  let mounted = false;
  let gw: TestGateway | undefined;
  let sink: Smarthost | undefined;
  let hop: HopProxy | undefined;

  before(function () {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root');
    mnt = mkdtempSync(path.join(os.tmpdir(), 'mm-full-rcpts-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
    mounted = true;
  });
  afterEach(async () => {
    await gw?.stop(); gw = undefined;
    await hop?.close(); hop = undefined;
    await sink?.stop(); sink = undefined;
    for (const name of readdirSync(mnt)) rmSync(path.join(mnt, name), { recursive: true, force: true });
  });
  after(() => {
    if (mounted) execFileSync('umount', ['-l', mnt]);
    if (mnt) rmdirSync(mnt);
  });

  const fill = () => assert.ok(fillDisk(path.join(mnt, 'filler'), { lastBlock: true }) > 0);
  const free = () => { for (const n of readdirSync(mnt)) if (n.startsWith('filler')) rmSync(path.join(mnt, n)); };
  const stopWarnings = (logs: LogFields[]) => logs.filter((l) => l.level === 'warn' && /not recorded|cannot record/.test(String(l.msg)));

  /** The stop, space freed, r2 accepted, a restart: the smarthost must then have had r1 once and r2 once. */
  async function restartAndFinish(dataDir: string, id: string, config: Record<string, unknown>): Promise<void> {
    const first = gw!;
    gw = undefined;
    await first.stop();
    assert.deepEqual(stopWarnings(first.logs), [], 'the delivery was recorded: nothing is at stake at the stop');
    free();
    sink!.rcptReplies.delete(R2);
    gw = await startGateway({ dataDir, config });
    await sink!.waitFor(2, 15_000);
    await until(() => gw!.logs.some((l) => l.msg === 'delivered' && l.qid === id), 10_000, 'the message delivered');
    assert.deepEqual(sink!.messages.map((m) => m.rcptTo), [[R1], [R2]], 'r1 reached the smarthost once, r2 once');
  }

  it('a message in queue/ (a state file): r1 is marked in the room of its state file and not sent again', async () => {
    const dataDir = mkdtempSync(path.join(mnt, 'data-'));
    sink = await startSmarthost();
    sink.rcptReplies.set(R1, 451);
    sink.rcptReplies.set(R2, 451);
    const config = { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['400ms'] } };
    gw = await startGateway({ dataDir, config });
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: [R1, R2], subject: 'two recipients' });
    assert.equal(sent.code, 250, sent.text);
    const id = sent.queueId!;
    await until(() => existsSync(path.join(dataDir, 'queue', `${id}.json`)), 10_000, 'the message deferred into queue/');

    fill();
    sink.rcptReplies.delete(R1);
    await sink.waitFor(1, 15_000);
    const logs = gw.logs;
    const line = await waitFor('the line of the attempt whose state was not written', () => logs.find((l) => l.msg === NOT_WRITTEN && l.qid === id));
    assert.equal(line.code, 'ENOSPC');
    assert.deepEqual(line.delivered, [R1]);
    assert.deepEqual(line.pending, [R2]);
    assert.deepEqual(line.tried, [R1, R2]);
    assert.equal(line.delivered_recorded, 'in reserved space');
    // The retries go on, counted in the state kept in memory, without a line each (nor r1 again: the sink has one).
    await until(async () => ((await gw!.gateway.runtime.queue.load(id))?.attempts ?? 0) >= 4, 15_000, 'more attempts');
    assert.equal(logs.filter((l) => l.msg === NOT_WRITTEN && l.qid === id).length, 1, 'one line for the same failure');
    assert.equal(sink.messages.length, 1);
    // `moat queue show` reads the files: the mark says r1 was delivered.
    const shown = await moatQueue(dataDir, 'show', id, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const byAddress = Object.fromEntries((shown.json.entry.recipients as Array<{ address: string; status: string }>).map((r) => [r.address, r.status]));
    assert.deepEqual(byAddress, { [R1]: 'delivered', [R2]: 'pending' });

    await restartAndFinish(dataDir, id, config);
  });

  it('a message still in the journal: r1 is marked in the room its segment reserved and not sent again', async () => {
    const dataDir = mkdtempSync(path.join(mnt, 'data-'));
    sink = await startSmarthost();
    sink.rcptReplies.set(R2, 451);
    // The first attempt waits at the proxy, so it is answered only once the disk is full.
    hop = await startHopProxy(sink.port, { held: true });
    const config = { smarthost: `smtp://127.0.0.1:${hop.port}`, queue: { retry_schedule: ['400ms'] } };
    gw = await startGateway({ dataDir, config });
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: [R1, R2], subject: 'two recipients' });
    assert.equal(sent.code, 250, sent.text);
    const id = sent.queueId!;
    await until(() => hop!.connections > 0, 10_000, 'the first attempt at the proxy');
    assert.ok(gw.gateway.runtime.queue.isJournaled(id), 'the message is in the journal');

    fill();
    hop.release();
    await sink.waitFor(1, 15_000);
    const logs = gw.logs;
    const line = await waitFor('the line of the attempt whose state was not written', () => logs.find((l) => l.msg === NOT_WRITTEN && l.qid === id));
    assert.deepEqual(line.delivered, [R1]);
    assert.equal(line.delivered_recorded, 'in reserved space');
    assert.ok(gw.gateway.runtime.queue.isJournaled(id), 'still in the journal: it could not move out to files');

    await restartAndFinish(dataDir, id, config);
  });

  it('refuses MAIL FROM with 452 4.3.1 while the disk is full, not counted toward max_errors, and takes mail again once space returns', async () => {
    const dataDir = mkdtempSync(path.join(mnt, 'data-'));
    sink = await startSmarthost();
    gw = await startGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${sink.port}`, limits: { max_errors: 2 } } });
    fill();
    // The disk fills with no message under way: the first message finds it, after its body.
    const first = await sendMail(gw.port, { from: 'a@client.example', to: [R1], subject: 'finds the disk full' });
    assert.equal(first.code, 452);

    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      // More refusals than max_errors on one connection: a 4.3.x reply is the gateway's trouble, not the client's.
      for (let i = 0; i < 3; i++) {
        const m = await d.cmd('MAIL FROM:<a@client.example>');
        assert.equal(m.code, 452);
        assert.match(m.text, /^4\.3\.1 Insufficient system storage/);
      }
      assert.equal((await d.cmd('NOOP')).code, 250, 'still connected');
    } finally { await d.quit(); }
    assert.equal(gw.gateway.runtime.metrics.counters.get('disk_full_refusals'), 4);
    const refusal = gw.logs.find((l) => l.msg === 'sender refused' && String(l.reply).startsWith('452 4.3.1'));
    assert.match(String(refusal?.reason), /^disk full \(ENOSPC\) since /);

    free();
    // The refusal probes for room (at most every 5 s): MAIL FROM is taken again without any other write succeeding.
    await waitFor('MAIL FROM taken again', async () => {
      const c = await SmtpDialog.connect(gw!.port);
      try { await c.hello(); return (await c.cmd('MAIL FROM:<a@client.example>')).code === 250 || undefined; } finally { await c.quit(); }
    }, 15_000);
    const again = await sendMail(gw.port, { from: 'a@client.example', to: [R1], subject: 'after' });
    assert.equal(again.code, 250, again.text);
    await sink.waitFor(1, 10_000);
  });
});
