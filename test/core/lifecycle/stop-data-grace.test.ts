// A stop gives a message still coming in a bounded grace: then 421 4.3.2, the partial message dropped and nothing
// queued, while a message whose final dot came before the cut-off is still checked, queued, answered 250 and delivered.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const SLOW_DATA = path.resolve(import.meta.dirname, 'slow-data-plugin.ts');
/** How long the data hook holds each message: a message whose dot comes just before the cut-off is checked past it. */
const CHECK_MS = 3_000;

/**
 * A hostile client on a raw socket: it never closes its side (a FIN from us does not end it) and keeps writing
 * whatever it is told. Records every reply line with the time it arrived.
 */
async function stubbornClient(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const lines: Array<{ line: string; at: number }> = [];
  let buffer = '';
  let ended = false;
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
      lines.push({ line: buffer.slice(0, i), at: Date.now() });
      buffer = buffer.slice(i + 2);
    }
  });
  socket.on('end', () => { ended = true; });
  const reply = (re: RegExp, timeoutMs: number) =>
    waitFor(() => `a reply matching ${re}; got ${JSON.stringify(lines.map((l) => l.line))}`, () => lines.find((l) => re.test(l.line)), timeoutMs);
  const say = async (cmd: string, re: RegExp) => { socket.write(cmd + '\r\n'); return reply(re, 5_000); };
  return { socket, lines, waitFor: reply, say, get ended() { return ended; } };
}

// The stop's 20 s for a message still arriving, shortened: the test is about what happens when it runs out.
const STOP_DATA_GRACE_MS = 6_000;

describe('gateway stop with messages coming in', function () {
  this.timeout(STOP_DATA_GRACE_MS + 40_000);

  it('cuts a message still trickling in at the grace with 421 and drops it, and takes one finished before the cut', async () => {
    const sink = await startSmarthost();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-stop-grace-'));
    const end = holdUntilExit({ dir: dataDir });
    const smarthost = `smtp://127.0.0.1:${sink.port}`;
    const timers: NodeJS.Timeout[] = [];
    let trickler: Awaited<ReturnType<typeof stubbornClient>> | undefined;
    try {
      const gw = await startGateway({ dataDir, config: { smarthost, plugins: [{ name: 'slow-data', module: SLOW_DATA, delay_ms: CHECK_MS }] }, timings: { dataStopGraceMs: STOP_DATA_GRACE_MS } });
      let stopping: Promise<void> | undefined;
      try {
        // The trickler: a byte every 200 ms, which the idle timeout never catches, and never a final dot.
        trickler = await stubbornClient(gw.port);
        await trickler.waitFor(/^220 /, 5_000);
        await trickler.say('EHLO trickle.test', /^250 /);
        await trickler.say('MAIL FROM:<slow@client.example>', /^250 2\.1\.0/);
        await trickler.say('RCPT TO:<user@example.com>', /^250 2\.1\.5/);
        await trickler.say('DATA', /^354 /);
        const trickled = testMessage({ subject: 'trickled across the stop' });
        let sent = 0;
        const t = trickler;
        timers.push(setInterval(() => { if (!t.socket.destroyed) t.socket.write(trickled[sent++ % trickled.length]); }, 200));

        // The finisher: half its message now, the rest and its dot just before the cut-off.
        const finisher = await SmtpDialog.connect(gw.port);
        assert.equal((await finisher.hello()).code, 250);
        assert.equal((await finisher.cmd('MAIL FROM:<fast@client.example>')).code, 250);
        assert.equal((await finisher.cmd('RCPT TO:<user@example.com>')).code, 250);
        assert.equal((await finisher.cmd('DATA')).code, 354);
        const finished = testMessage({ subject: 'finished before the cut' });
        const half = Math.floor(finished.length / 2);
        finisher.write(finished.slice(0, half));
        await new Promise((r) => setTimeout(r, 300));

        const stopAt = Date.now();
        stopping = gw.gateway.stop();
        const stopped = stopping.then(() => Date.now());
        await new Promise((r) => setTimeout(r, STOP_DATA_GRACE_MS - 1_500));
        assert.equal(trickler.lines.filter((l) => /^421 /.test(l.line)).length, 0, 'the trickler is not cut before the grace');
        finisher.write(finished.slice(half) + '\r\n.\r\n');

        const cut = await trickler.waitFor(/^421 /, 5_000);
        assert.match(cut.line, /^421 4\.3\.2 /);
        const cutAfter = cut.at - stopAt;
        assert.ok(cutAfter >= STOP_DATA_GRACE_MS - 200 && cutAfter <= STOP_DATA_GRACE_MS + 2_000, `421 after ${cutAfter} ms, grace ${STOP_DATA_GRACE_MS} ms`);

        // Its dot came before the cut-off: checked past it, queued, and answered as ever.
        const accepted = await finisher.read(CHECK_MS + 5_000);
        assert.equal(accepted.code, 250, accepted.text);
        const queuedAs = /queued as (\S+)/.exec(accepted.text)?.[1];
        assert.ok(queuedAs, accepted.text);

        // Bounded, though the trickler never closes its side: the gateway drops it after its half-close wait.
        const stopTook = (await stopped) - stopAt;
        assert.ok(stopTook < STOP_DATA_GRACE_MS + CHECK_MS + 6_000, `the stop took ${stopTook} ms`);
        assert.ok(trickler.socket.destroyed || trickler.ended, 'the trickler was disconnected');

        // The cut message: summed up as aborted before the gateway said it stopped, its spool file gone, nothing queued.
        const stoppedLine = gw.logs.findIndex((l) => l.msg === 'mailmoat stopped');
        const aborted = gw.logs.findIndex((l) => l.msg === 'message' && l.verdict === 'aborted' && l.from === 'slow@client.example');
        assert.ok(aborted >= 0, 'the cut message has its summary line');
        assert.equal(gw.logs[aborted].reason, 'cut off by the stop after its grace');
        assert.match(String(gw.logs[aborted].reply), /^421 4\.3\.2 /);
        assert.ok(aborted < stoppedLine, 'the cut message was summed up before the gateway stopped');
        const abortedQid = String(gw.logs[aborted].qid);
        assert.ok(gw.logs.some((l) => l.msg === 'stopping: message cut off before its final dot' && l.grace_ms === STOP_DATA_GRACE_MS));
        assert.equal(existsSync(path.join(dataDir, 'queue', `${abortedQid}.eml`)), false, 'no spool file of the cut message');
        const queued = await new QueueStore(dataDir).list('queue');
        assert.deepEqual(queued.map((e) => e.id), [queuedAs], 'only the finished message is queued');
        assert.equal(gw.logs.filter((l) => l.level === 'error').length, 0, JSON.stringify(gw.logs.filter((l) => l.level === 'error')));
      } finally {
        for (const t of timers) clearInterval(t);
        trickler?.socket.destroy();
        await (stopping ?? gw.gateway.stop());
        await gw.stop();
      }

      // After a restart the finished message reaches the smarthost; the cut one never does.
      const again = await startGateway({ dataDir, config: { smarthost } });
      try {
        const relayed = await sink.waitForText('finished before the cut', 15_000);
        assert.match(relayed, /From: /);
        assert.equal(sink.messages.some((m) => m.raw.toString('latin1').includes('trickled across the stop')), false);
        assert.equal(sink.messages.length, 1);
      } finally {
        await again.stop();
      }
    } finally {
      await sink.stop();
      end();
    }
  });
});
