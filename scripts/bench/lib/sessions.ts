// One SMTP session per message, each with its own XCLIENT address, timed from connect to the 250 after DATA.
import { SmtpDialog, testMessage } from '../../../test/helpers/smtp-dialog.ts';
import { percentile } from '../../../core/metrics.ts';

export interface SessionFigures { msgsPerSec: number; p50: number; p99: number; failures: number }

/** Sends `count` messages over `concurrency` parallel sessions; `addr(i)` is the client address of message i. */
export async function timedSessions(port: number, opts: { count: number; concurrency: number; addr: (i: number) => string; body?: string }): Promise<SessionFigures> {
  const times: number[] = [];
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < opts.count) {
      const i = next++;
      const t0 = performance.now();
      const d = await SmtpDialog.connect(port);
      await d.hello({ xclient: { addr: opts.addr(i) } });
      const ok = (await d.cmd('MAIL FROM:<joe@sender.bench>')).code === 250
        && (await d.cmd('RCPT TO:<user@example.com>')).code === 250
        && (await d.data(testMessage({ from: 'joe@sender.bench', body: opts.body }))).code === 250;
      if (ok) times.push(performance.now() - t0); else failures++;
      await d.quit();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const secs = (performance.now() - start) / 1000;
  times.sort((a, b) => a - b);
  return { msgsPerSec: times.length / secs, p50: percentile(times, 0.5), p99: percentile(times, 0.99), failures };
}
