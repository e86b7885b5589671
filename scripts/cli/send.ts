// `moat send`: sends one test message through a gateway (Mailmoat's MESend), printing the server's reply.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { parseArgs, flag, flags } from './args.ts';

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const hostPort = flag(args, 'host') ?? '127.0.0.1:2525';
  const from = flag(args, 'from');
  const to = flags(args, 'to');
  if (!from || to.length === 0) {
    process.stderr.write('usage: moat send --host H:P --from A --to B [--to C] [--subject S] [--body T] [--attach FILE] [--tls] [--user U --pass P]\n');
    return 2;
  }
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(hostPort);
  if (!m) { process.stderr.write(`--host must be host:port, got ${hostPort}\n`); return 2; }
  const user = flag(args, 'user');
  const transport = nodemailer.createTransport({
    host: m[1], port: Number(m[2]), secure: flag(args, 'tls') === 'true',
    tls: { rejectUnauthorized: false },
    auth: user ? { user, pass: flag(args, 'pass') ?? '' } : undefined,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  const attach = flags(args, 'attach');
  const info = await transport.sendMail({
    from, to, subject: flag(args, 'subject') ?? 'Mailmoat test message',
    text: flag(args, 'body') ?? `Test message sent by moat send at ${new Date().toISOString()}.\n`,
    attachments: attach.map((f) => ({ filename: path.basename(f), content: readFileSync(f) })),
  });
  process.stdout.write(`${info.response}\naccepted: ${info.accepted.join(', ') || '-'}\nrejected: ${info.rejected.join(', ') || '-'}\n`);
  transport.close();
  return info.rejected.length ? 1 : 0;
}
