// A load of numbered messages over several SMTP connections that survive the gateway going away (reconnect and resend).
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import type { ReceivedMessage } from '../../helpers/smarthost.ts';
import { sleep } from './send.ts';

export interface LoadResult { acked: Set<number>; refused: Map<number, string>; retries: number }

/** The sequence number a message of the load carries. */
export function seqOf(m: ReceivedMessage): number {
  return Number(/^X-Seq: (\d+)/m.exec(m.raw.toString('latin1'))?.[1] ?? -1);
}

/**
 * Sends messages 0..count-1 over `connections` connections. A message counts as acknowledged only on 250; after a
 * broken connection or a 4xx the same message is sent again on a new one. `shouldStop` ends the load early.
 */
export async function sendNumbered(port: () => number, opts: { count: number; connections: number; deadline: number; body?: string; to?: string; onAck?: (acked: number) => void }): Promise<LoadResult> {
  const acked = new Set<number>();
  const refused = new Map<number, string>();
  let next = 0;
  let retries = 0;
  const body = opts.body ?? 'numbered test message\r\n';
  const worker = async () => {
    let d: SmtpDialog | undefined;
    let seq = -1;
    while (Date.now() < opts.deadline) {
      if (seq < 0) { if (next >= opts.count) break; seq = next++; }
      try {
        if (!d || d.closed) {
          d = await SmtpDialog.connect(port());
          const r = await d.hello();
          if (r.code !== 250) throw new Error(`EHLO ${r.code}`);
        }
        const m = await d.cmd('MAIL FROM:<load@client.example>');
        if (m.code !== 250) throw new Error(`MAIL ${m.code}`);
        const r = await d.cmd(`RCPT TO:<${opts.to ?? 'sink@example.com'}>`);
        if (r.code !== 250) throw new Error(`RCPT ${r.code}`);
        const reply = await d.data(testMessage({ subject: `load ${seq}`, headers: { 'X-Seq': String(seq) }, body }));
        if (reply.code === 250) { acked.add(seq); opts.onAck?.(acked.size); seq = -1; continue; }
        if (reply.code >= 500) { refused.set(seq, `${reply.code} ${reply.text}`); seq = -1; continue; }
        retries++;
        await d.cmd('RSET').catch(() => undefined);
      } catch {
        retries++;
        d?.quit().catch(() => undefined);
        d = undefined;
        await sleep(50);
      }
    }
    await d?.quit().catch(() => undefined);
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  return { acked, refused, retries };
}
