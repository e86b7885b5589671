// `moat send`: sends one test message through a gateway (Mailmoat's MESend), printing the server's reply.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { readCommand, USAGE_ERROR } from './args.ts';

const USAGE = 'usage: moat send --host H:P --from A --to B [--to C] [--subject S] [--body T] [--attach FILE] [--tls] [--user U --pass P]\n  STARTTLS is used when the server offers it; --tls connects with implicit TLS (a server.tls_listen port).';

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, {
    host: { type: 'string' }, from: { type: 'string' }, to: { type: 'string', multiple: true }, subject: { type: 'string' },
    body: { type: 'string' }, attach: { type: 'string', multiple: true }, tls: { type: 'boolean' }, user: { type: 'string' },
    pass: { type: 'string' },
  }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const hostPort = v.host ?? '127.0.0.1:2525';
  const from = v.from;
  const to = v.to ?? [];
  if (!from || to.length === 0) {
    console.error(USAGE);
    return USAGE_ERROR;
  }
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort);
  if (!m) { process.stderr.write(`--host must be host:port, got ${hostPort}\n`); return USAGE_ERROR; }
  const user = v.user;
  const transport = nodemailer.createTransport({
    host: m[1], port: Number(m[2]), secure: v.tls === true,
    tls: { rejectUnauthorized: false },
    auth: user ? { user, pass: v.pass ?? '' } : undefined,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  const attach = v.attach ?? [];
  const info = await transport.sendMail({
    from, to, subject: v.subject ?? 'Mailmoat test message',
    text: v.body ?? `Test message sent by moat send at ${new Date().toISOString()}.\n`,
    attachments: attach.map((f) => ({ filename: path.basename(f), content: readFileSync(f) })),
  });
  process.stdout.write(`${info.response}\naccepted: ${info.accepted.join(', ') || '-'}\nrejected: ${info.rejected.join(', ') || '-'}\n`);
  transport.close();
  return info.rejected.length ? 1 : 0;
}
