// Sends one message through a raw SMTP dialog and returns the replies the tests look at.
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

export interface Sent { code: number; text: string; queueId?: string }

export async function sendMail(port: number, opts: { from: string; to: string[]; subject?: string; body?: string; headers?: Record<string, string> }): Promise<Sent> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    const m = await d.cmd(`MAIL FROM:<${opts.from}>`);
    if (m.code !== 250) return { code: m.code, text: m.text };
    for (const to of opts.to) {
      const r = await d.cmd(`RCPT TO:<${to}>`);
      if (r.code !== 250) return { code: r.code, text: r.text };
    }
    const r = await d.data(testMessage({ from: opts.from || 'mailer-daemon@client.example', to: opts.to.join(', '), subject: opts.subject, body: opts.body, headers: opts.headers }));
    return { code: r.code, text: r.text, queueId: /queued as (\S+)/.exec(r.text)?.[1] };
  } finally {
    await d.quit();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` is true; the queue tests' shorthand for waitFor with a yes/no probe. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  await waitFor(what, async () => (await check()) || undefined, timeoutMs);
}
