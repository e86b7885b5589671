// Shared by the DKIM tests: keys in a temp dir, a loopback DNS server that publishes them, and mailauth's verifier
// asking that server, as a receiver would.
import { mkdtempSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import os from 'node:os';
import path from 'node:path';
import { dkimVerify } from 'mailauth';
import nodemailer from 'nodemailer';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { dkimRecordText } from '../../../core/dkim/dns-record.ts';
import { writeNewKey, type KeyType } from '../../../core/dkim/keygen.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';

export interface KeyDir { dir: string; remove(): void }

export function keyDir(): KeyDir {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-dkim-'));
  return { dir, remove: holdUntilExit({ dir }) };
}

/** A new key `name` in `dir`, and the TXT record that publishes it. */
export function newKey(dir: string, name: string, type: KeyType = 'rsa'): { file: string; record: string } {
  const file = path.join(dir, name);
  return { file, record: dkimRecordText(writeNewKey(file, type, 2048)) };
}

/** A DNS server for `domain` publishing `records` by selector. */
export function publish(domain: string, records: Record<string, string>): Promise<DnsTestServer> {
  return startDnsServer({ zones: { [domain]: Object.fromEntries(Object.entries(records).map(([sel, txt]) => [`${sel}._domainkey`, { TXT: [txt] }])) } });
}

export interface Verified { domain: string; selector: string; result: string; comment?: string }

/** What mailauth makes of each DKIM signature on `raw`, its keys looked up at `dns`. */
export async function verify(raw: Buffer, dns: DnsTestServer): Promise<Verified[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([dns.address]);
  const out = await dkimVerify(raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') as Promise<never> });
  return out.results
    .filter((r) => r.signingDomain)
    .map((r) => ({ domain: r.signingDomain!, selector: r.selector!, result: r.status.result, comment: r.status.comment }));
}

export interface UserMail { from: string; to: string[]; subject: string; body?: string; headers?: Record<string, string> }

/** `mail` as alice's mail client sends it to the gateway at `port`: STARTTLS, then AUTH. Returns its queue id. */
export async function sendAsAlice(port: number, mail: UserMail): Promise<string> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port, secure: false, requireTLS: true, name: 'laptop.home.test',
    tls: { rejectUnauthorized: false }, auth: { user: 'alice', pass: 'right-password' },
  });
  try {
    const { from, to, subject, body, headers } = mail;
    const info = await t.sendMail({ envelope: { from, to }, raw: testMessage({ from, to: to.join(', '), subject, body, headers }) });
    return /queued as (\S+)/.exec(info.response)![1];
  } finally {
    t.close();
  }
}
