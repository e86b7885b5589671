// Disk full: the spool on a small tmpfs; when it fills, the gateway answers 452 4.3.1, says why (in the log and on
// /health/ready), loses nothing, and recovers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { fillDisk } from './fill-disk.ts';
import { sendMail, sleep, until } from './send.ts';

describe('queue: disk full', function () {
  this.timeout(60_000);
  let mnt = '';
  let mounted = false;
  let gw: TestGateway | undefined;
  let sink: Smarthost | undefined;

  before(function () {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root');
    mnt = mkdtempSync(path.join(os.tmpdir(), 'mm-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
    mounted = true;
  });
  after(async () => {
    await gw?.stop();
    await sink?.stop();
    // A mount that failed leaves an empty dir, still removed.
    if (mounted) execFileSync('umount', ['-l', mnt]);
    if (mnt) rmdirSync(mnt);
  });

  it('answers 452 4.3.1 while the spool filesystem is full, keeps what it accepted, and accepts again when space returns', async () => {
    const dataDir = path.join(mnt, 'data');
    mkdirSync(dataDir);
    const port = await freePort();
    gw = await startGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${port}`, queue: { retry_schedule: ['300ms'] }, http: { listen: ['127.0.0.1:0'] } } });
    const ready = async () => {
      const r = await fetch(`http://127.0.0.1:${gw!.gateway.admin!.addresses[0].port}/health/ready`);
      return { code: r.status, ...(await r.json() as { status: string; reason?: string }) };
    };
    assert.equal((await ready()).code, 200);
    const body = 'x'.repeat(76) + '\r\n';
    const big = body.repeat(400); // ~31 KB
    const accepted: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: `kept ${i}`, body: big });
      assert.equal(s.code, 250);
      accepted.push(`kept ${i}`);
      ids.push(s.queueId!);
    }
    // Each deferred (written to files of its own) before the disk fills: a write still under way when it does fails
    // and frees what it had written, room enough for the next message.
    const logs = gw.logs;
    await until(() => ids.every((id) => logs.some((l) => l.msg === 'deferred' && l.qid === id)), 10_000, 'the four deferred');
    const filler = path.join(mnt, 'filler');
    assert.ok(fillDisk(filler) > 0);

    const refused = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'refused', body: big });
    assert.equal(refused.code, 452);
    assert.match(refused.text, /^4\.3\.1 /);
    const why = gw.logs.find((l) => (l.msg === 'cannot spool message' || l.msg === 'cannot commit message to the queue') && l.code === 'ENOSPC');
    assert.ok(why, 'the log says the spool is out of space');
    // The refused message's journal record ended the journal's segment, whose messages all have files of their own
    // by now: dropping it freed its room, which the readiness probe would rightly find. Filled again.
    const refill = `${filler}.again`;
    fillDisk(refill);
    // A load balancer's readiness probe sees it too, and says why.
    const full = await ready();
    assert.equal(full.code, 503);
    assert.match(full.reason ?? '', /^disk full \(ENOSPC\) since \d{4}-/);
    // Retries of the queued messages hit the full disk too (their state cannot be rewritten): they stay queued.
    await sleep(800);
    assert.equal((await gw.gateway.runtime.queue.list()).length, 4);

    unlinkSync(filler);
    unlinkSync(refill);
    // With no mail coming (the balancer took the gateway out), a probe write finds the room again.
    await until(async () => (await ready()).code === 200, 10_000, 'ready again once space returned');
    const again = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'after', body: big });
    assert.equal(again.code, 250);
    accepted.push('after');

    sink = await startSmarthost({ port });
    await sink.waitFor(accepted.length, 15_000);
    await until(async () => (await gw!.gateway.runtime.queue.list()).length === 0, 5000, 'empty queue');
    const subjects = sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())![1]).sort();
    assert.deepEqual(subjects, accepted.sort());
    // Nothing half-written is left behind.
    const left = (await import('node:fs')).readdirSync(path.join(dataDir, 'queue'));
    assert.deepEqual(left, []);
    rmSync(path.join(dataDir, 'delivered'), { recursive: true, force: true });
  });
});
