// One delivery attempt per connection, the way a sending MTA retries: XCLIENT for the client IP, MAIL, RCPT, DATA.
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import type { LogFields } from '../../../core/log/types.ts';

export interface Attempt {
  /** Client IP named with XCLIENT (the test connects from 127.0.0.1, a trusted proxy). */
  ip: string;
  from: string;
  to: string | string[];
  /** Runs after EHLO, before MAIL (STARTTLS + AUTH, for example). */
  before?: (c: SmtpDialog) => Promise<void>;
  /** Skip XCLIENT: the session keeps 127.0.0.1. */
  noXclient?: boolean;
}

export interface AttemptResult { mail: SmtpReply; rcpts: SmtpReply[]; data?: SmtpReply }

let counter = 0;

/** Tries to deliver one message; DATA is sent only when a recipient was accepted. The marker finds it in the logs. */
export async function deliver(port: number, a: Attempt): Promise<AttemptResult & { marker: string }> {
  const marker = `gl-${process.pid}-${++counter}`;
  const c = await SmtpDialog.connect(port);
  try {
    const hello = a.noXclient ? await c.hello() : await c.hello({ xclient: { addr: a.ip, helo: 'sender.test' } });
    if (hello.code !== 250) throw new Error(`session refused: ${hello.code} ${hello.text}`);
    await a.before?.(c);
    const mail = await c.cmd(`MAIL FROM:<${a.from}>`);
    const rcpts: SmtpReply[] = [];
    for (const to of [a.to].flat()) rcpts.push(await c.cmd(`RCPT TO:<${to}>`));
    const data = rcpts.some((r) => r.code === 250) ? await c.data(testMessage({ subject: marker, from: a.from || 'mailer-daemon@sender.test', to: [a.to].flat()[0] })) : undefined;
    return { mail, rcpts, data, marker };
  } finally {
    await c.quit();
  }
}

/** The symbols of the message log line of the delivery whose MAIL FROM/RCPT match (the newest one). */
export function symbolsOf(logs: LogFields[], to: string): string[] {
  const line = logs.filter((l) => l.msg === 'message' && Array.isArray(l.to) && (l.to as string[]).includes(to)).at(-1);
  return (line?.symbols as string[] | undefined) ?? [];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
