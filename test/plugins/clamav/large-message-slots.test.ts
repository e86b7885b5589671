// Large messages hold at most `large_message_slots` of the scan slots, so ordinary mail from other clients is scanned
// meanwhile instead of waiting past max_wait for a 451. Driven through a real gateway with a real (slow) scanner process.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { validatePluginOptions } from '../../../core/plugin/loader.ts';
import { Limiter } from '../../../plugins/clamav/limiter.ts';
import { largeSlots } from '../../../plugins/clamav/config.ts';
import { cleanMessage, sendOne, withAttachments } from './fixtures.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const noSlot = () => new Error('no slot');

const LARGE_SCAN_SECONDS = 6;

/**
 * A scanner that takes LARGE_SCAN_SECONDS for a file of 1 MiB or more (leaving a mark when it starts one) and
 * answers a smaller one at once, as clamd does for a 40 MB message against a 6 KB one.
 */
function slowScanner(dir: string): string {
  const script = path.join(dir, 'slow-scan.sh');
  fs.writeFileSync(script, [
    '#!/bin/sh',
    'size=$(wc -c < "$1")',
    `if [ "$size" -ge 1048576 ]; then touch "${dir}/large-started.$$"; sleep ${LARGE_SCAN_SECONDS}; fi`,
    'exit 0',
    '',
  ].join('\n'));
  return script;
}

const largeStarted = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('large-started.')).length;

/** About 6 KB, as the soak test's ordinary mail. */
const smallMessage = (subject: string) => withAttachments(subject, 'Minutes attached.', [['minutes.txt', 'text/plain', Buffer.alloc(4500, 'm')]]);
/** About 2.7 MB once base64-encoded. */
const largeMessage = (subject: string) => withAttachments(subject, 'Scans attached.', [['scan.pdf', 'application/pdf', Buffer.alloc(2 * 1024 * 1024, 7)]]);

describe('clamav large_message_slots', function () {
  this.timeout(60_000);

  describe('the limiter', () => {
    it('lets large tasks hold only their share, and a small task take the slot kept back', async () => {
      const lim = new Limiter(4, 3);
      const large = Array.from({ length: 4 }, () => lim.run(() => sleep(300), 2000, noSlot, true));
      await sleep(20);
      assert.equal(lim.largeInFlight, 3);
      assert.equal(lim.queued, 1, 'the fourth large task waits');
      const t0 = Date.now();
      assert.equal(await lim.run(async () => 'small', 100, noSlot), 'small');
      assert.ok(Date.now() - t0 < 100, 'the small task did not wait for a large one');
      await Promise.all(large);
      assert.deepEqual([lim.inFlight, lim.largeInFlight, lim.queued], [0, 0, 0]);
    });

    it('passes a freed slot to a small waiter behind a large one that may not start yet', async () => {
      const lim = new Limiter(2, 1);
      const order: string[] = [];
      const first = lim.run(async () => { await sleep(200); order.push('large-1'); }, 2000, noSlot, true);
      const small = lim.run(async () => { await sleep(100); order.push('small-1'); }, 2000, noSlot);
      const large2 = lim.run(async () => { order.push('large-2'); }, 2000, noSlot, true);
      const small2 = lim.run(async () => { order.push('small-2'); }, 2000, noSlot);
      await Promise.all([first, small, large2, small2]);
      // small-1 freed a slot while large-1 still held the large share: small-2, behind large-2, went first.
      assert.deepEqual(order, ['small-1', 'small-2', 'large-1', 'large-2']);
    });

    it('times out a large waiter whose share stays full, with free slots left for small tasks', async () => {
      const lim = new Limiter(3, 1);
      const held = lim.run(() => sleep(200), 1000, noSlot, true);
      await assert.rejects(lim.run(async () => 1, 50, noSlot, true), /no slot/);
      assert.equal(lim.queued, 0);
      await held;
    });
  });

  describe('the options', () => {
    const entry = (options: Record<string, unknown>) => ({ name: 'clamav', host: '127.0.0.1', port: 3310, required: false, timeout: 30_000, ...options });

    it('keeps one slot back for smaller mail by default, none when there is only one', () => {
      assert.equal(largeSlots({ max_concurrent: 4, large_message_slots: undefined }), 3);
      assert.equal(largeSlots({ max_concurrent: 1, large_message_slots: undefined }), 1);
      assert.equal(largeSlots({ max_concurrent: 8, large_message_slots: 4 }), 4);
    });

    it('refuses large_message_slots above max_concurrent', async () => {
      const issues = await validatePluginOptions([entry({ max_concurrent: 4, large_message_slots: 5 })]);
      assert.deepEqual(issues.map((i) => [i.path, i.message]), [['plugins[0].large_message_slots', 'is 5, above max_concurrent (4)']]);
      assert.deepEqual(await validatePluginOptions([entry({ max_concurrent: 4, large_message_slots: 4, large_message_size: '20MB' })]), []);
    });
  });

  describe('four large messages and then nine small ones, through a gateway', () => {
    let smarthost: Smarthost;
    const gateways: TestGateway[] = [];
    const dirs: string[] = [];

    before(async () => { smarthost = await startSmarthost(); });
    after(async () => {
      for (const g of gateways) await g.stop();
      await smarthost?.stop();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    /** Sends the four large messages, waits until `scanning` of them are in the scanner, then the nine small ones. */
    async function soak(name: string, extra: Record<string, unknown>, scanning: number) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mailmoat-slots-${name}-`));
      dirs.push(dir);
      const gw = await startGateway({ config: {
        smarthost: `smtp://127.0.0.1:${smarthost.port}`,
        plugins: [{
          name: 'clamav', scanner: 'command', command: { template: `sh ${slowScanner(dir)} {file}` },
          max_concurrent: 4, max_wait: '3s', scan_timeout: '10s', timeout: '15s', large_message_size: '1MB', ...extra,
        }],
      } });
      gateways.push(gw);
      const large = Array.from({ length: 4 }, (_, i) => sendOne(gw.port, largeMessage(`${name}-large-${i}`)));
      await waitFor(`${scanning} large scans under way`, () => largeStarted(dir) >= scanning || undefined, 20_000);
      const t0 = Date.now();
      const small = await Promise.all(Array.from({ length: 9 }, (_, i) => sendOne(gw.port, smallMessage(`${name}-small-${i}`))));
      const smallSeconds = (Date.now() - t0) / 1000;
      const largeScansWhenSmallDone = largeStarted(dir);
      return { small, smallSeconds, large: await Promise.all(large), largeScansWhenSmallDone, gw };
    }

    const codes = (replies: SmtpReply[]) => replies.map((r) => r.code).sort();

    it('with one slot kept back, the small messages get 250 while the large ones are scanned', async () => {
      const run = await soak('reserved', {}, 3);
      console.log(`      reserved slot: 9 small in ${run.smallSeconds.toFixed(2)} s, codes ${codes(run.small)}; large codes ${codes(run.large)}`);
      assert.deepEqual(codes(run.small), Array(9).fill(250), run.small.map((r) => r.text).join(' / '));
      assert.ok(run.smallSeconds < LARGE_SCAN_SECONDS - 1, `the small ones did not wait for the large scans (${run.smallSeconds} s)`);
      assert.equal(run.largeScansWhenSmallDone, 3, 'large messages held three slots, never the fourth');
      // The fourth large message found the large share full for max_wait: on_error's answer, as a fifth got before.
      assert.deepEqual(codes(run.large), [250, 250, 250, 451]);
      const deferred = run.large.find((r) => r.code === 451)!;
      assert.match(deferred.text, /^4\.7\.0 Virus scan not possible now/);
      assert.ok(run.gw.logs.some((l) => l.msg === 'virus scan failed'
        && /no free scan slot within 3000 ms \(3 of 3 large_message_slots in use/.test(String(l.error))), 'the log says the large share was full');
      for (let i = 0; i < 9; i++) await smarthost.waitForText(`reserved-small-${i}`);
    });

    it('with large_message_slots equal to max_concurrent (no slot kept back), the small messages wait max_wait for 451', async () => {
      const run = await soak('unreserved', { large_message_slots: 4 }, 4);
      console.log(`      no slot kept back: 9 small in ${run.smallSeconds.toFixed(2)} s, codes ${codes(run.small)}; large codes ${codes(run.large)}`);
      assert.deepEqual(codes(run.small), Array(9).fill(451));
      for (const r of run.small) assert.match(r.text, /^4\.7\.0 /);
      assert.ok(run.smallSeconds >= 2.9, `each small message waited max_wait (${run.smallSeconds} s)`);
      assert.deepEqual(codes(run.large), [250, 250, 250, 250]);
    });
  });
});
