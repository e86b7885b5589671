// One SMTP transaction through a test gateway, for the user-lists tests: XCLIENT names the client, each RCPT gets its
// own reply, DATA goes when a recipient was accepted; and the lists seeded straight into the gateway's store.
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import type { LogFields } from '../../../core/log/types.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { addEntry, listEntry, type ListKind } from '../../../core/lists/user-lists.ts';

export interface Send {
  ip: string;
  from: string;
  to: string[];
  /** The From header; the envelope sender when absent. */
  author?: string;
  /** A whole message instead of a test message. */
  raw?: Buffer | string;
  helo?: string;
}

export interface Sent { rcpts: SmtpReply[]; data?: SmtpReply; marker: string }

let counter = 0;

export async function send(port: number, s: Send): Promise<Sent> {
  const marker = `ul-${process.pid}-${++counter}`;
  const c = await SmtpDialog.connect(port);
  try {
    const hello = await c.hello({ helo: 'proxy.test', xclient: { addr: s.ip, helo: s.helo ?? 'client.sender.test' } });
    if (hello.code !== 250) throw new Error(`session refused: ${hello.code} ${hello.text}`);
    const mail = await c.cmd(`MAIL FROM:<${s.from}>`);
    if (mail.code !== 250) throw new Error(`MAIL refused: ${mail.code} ${mail.text}`);
    const rcpts: SmtpReply[] = [];
    for (const to of s.to) rcpts.push(await c.cmd(`RCPT TO:<${to}>`));
    const body = s.raw ?? testMessage({ subject: marker, from: s.author ?? (s.from || 'mailer-daemon@sender.test'), to: s.to[0] });
    const data = rcpts.some((r) => r.code === 250) ? await c.data(body) : undefined;
    return { rcpts, data, marker };
  } finally {
    await c.quit();
  }
}

/** Adds entries to a recipient's list as `moat lists` and the quarantine pages do. */
export async function seed(store: StateStore, kind: ListKind, recipient: string, ...entries: string[]): Promise<void> {
  for (const e of entries) await addEntry(store, kind, recipient, listEntry(e)!);
}

/** The `message` log line of the delivery whose Subject (or text) carried `marker`, found by its queue id reply. */
export function messageLine(logs: LogFields[], data: SmtpReply | undefined): LogFields | undefined {
  const id = /queued as (\S+)/.exec(data?.text ?? '')?.[1];
  return logs.filter((l) => l.msg === 'message' && id !== undefined && String(l.reply ?? '').includes(id)).at(-1);
}

export const symbols = (line: LogFields | undefined) => (line?.symbols as string[] | undefined) ?? [];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
