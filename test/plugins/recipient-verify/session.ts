// A sending client for these tests: one session with MAIL, the RCPTs, and DATA when a recipient was taken.
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';

export interface Sent { rcpts: SmtpReply[]; data?: SmtpReply }

export async function send(port: number, to: string[], opts: { data?: boolean } = {}): Promise<Sent> {
  const c = await SmtpDialog.connect(port);
  try {
    const hello = await c.hello();
    if (hello.code !== 250) throw new Error(`session refused: ${hello.code} ${hello.text}`);
    const mail = await c.cmd('MAIL FROM:<sender@client.example>');
    if (mail.code !== 250) throw new Error(`MAIL refused: ${mail.code} ${mail.text}`);
    const rcpts: SmtpReply[] = [];
    for (const t of to) rcpts.push(await c.cmd(`RCPT TO:<${t}>`));
    const data = opts.data !== false && rcpts.some((r) => r.code === 250) ? await c.data(testMessage({ to: to[0] })) : undefined;
    return { rcpts, data };
  } finally {
    await c.quit();
  }
}

/** The RCPT reply of one recipient in a session of its own (no DATA). */
export async function rcpt(port: number, to: string): Promise<SmtpReply> {
  return (await send(port, [to], { data: false })).rcpts[0];
}

/**
 * Waits for a log line; the deadline only bounds a test that would otherwise hang, and is far beyond what the
 * awaited step needs even on a loaded machine.
 */
export async function logged(logs: LogFields[], match: (l: LogFields) => boolean, what: string, ms = 15_000): Promise<LogFields> {
  return waitFor(`the log line: ${what}`, () => logs.find(match), ms);
}

/** Waits until `check` holds, polling; the deadline only stops a test that would hang. */
export async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  await waitUntil(what, check, ms);
}
