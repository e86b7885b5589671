// A gateway for the recipient pages' tests: HTTPS on a loopback port with its own self-signed certificate, digest
// links under mail.example.com, and a rule that quarantines mail whose Subject matches `holdSubject`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';

export interface HoldingGateway { g: RelayingGateway; port: number; ca: Buffer }

export async function startHoldingGateway(holdSubject: string): Promise<HoldingGateway> {
  const g = await startRelayingGateway({ config: {
    domains: ['example.com'],
    http: { listen: ['127.0.0.1:0'], tls: true },
    quarantine_digest: { link_base: 'https://mail.example.com/' },
    plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: holdSubject }, actions: [{ quarantine: 'held for review' }] }] }],
  } });
  return { g, port: g.gateway.admin!.addresses[0].port, ca: readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt')) };
}

/** Sends `to` a message with `subject` over SMTP; the queue id the gateway gave it. */
export async function holdMail(g: RelayingGateway, to: string, subject: string): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
  try {
    return /queued as (\S+)/.exec((await t.sendMail({ from: 'prize@lottery.example', to, subject, text: 'You won!' })).response)![1];
  } finally { t.close(); }
}
