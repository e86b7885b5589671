// Test fixtures for DKIM/ARC: a key pair made in the test, signing and sealing with mailauth, and a MessageView over a buffer.
import { generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { dkimSign, sealMessage } from 'mailauth';
import type { HeaderField, HeaderList, MessageView } from '../../../core/index.ts';

export interface TestKey { privateKey: string; dnsRecord: string }

/** A fresh RSA key and its `v=DKIM1` TXT record. */
export function makeKey(bits = 1024): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), dnsRecord: `v=DKIM1; k=rsa; p=${der}` };
}

export function message(opts: { from: string; to?: string; subject?: string; body?: string; extraHeaders?: string[] }): Buffer {
  const lines = [
    ...(opts.extraHeaders ?? []),
    `From: ${opts.from}`,
    `To: ${opts.to ?? 'rcpt@receiver.test'}`,
    `Subject: ${opts.subject ?? 'Quarterly figures'}`,
    'Date: Sat, 21 Nov 2026 10:00:00 +0000',
    `Message-ID: <${Math.random().toString(36).slice(2)}@sender.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello,\r\nthe figures are attached in spirit.\r\n',
  ];
  return Buffer.from(lines.join('\r\n'));
}

export async function sign(raw: Buffer, domain: string, selector: string, key: TestKey, opts: { maxBodyLength?: number } = {}): Promise<Buffer> {
  // Without signTime, mailauth reads the clock twice (for the header it signs and for the header it writes), so
  // about one signature in 500 carries a t= one second off what was signed, and fails verification.
  const signing = { canonicalization: 'relaxed/relaxed', signTime: new Date(), signatureData: [{ signingDomain: domain, selector, privateKey: key.privateKey, ...opts }] };
  const res = await dkimSign(raw, signing as never);
  if (res.errors?.length) throw res.errors[0];
  return Buffer.concat([Buffer.from(res.signatures), raw]);
}

export async function seal(raw: Buffer, domain: string, selector: string, key: TestKey, authResults: string): Promise<Buffer> {
  const headers = await sealMessage(raw, { signingDomain: domain, selector, privateKey: key.privateKey, authResults, cv: 'none' } as never);
  return Buffer.concat([headers, raw]);
}

function headerList(raw: Buffer): HeaderList {
  const end = raw.indexOf('\r\n\r\n');
  const block = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
  const fields: HeaderField[] = [];
  for (const line of block.split('\r\n')) {
    if (/^[ \t]/.test(line) && fields.length) {
      const last = fields[fields.length - 1];
      last.value += ` ${line.trim()}`;
      last.raw += `${line}\r\n`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim(), raw: `${line}\r\n` });
  }
  const all = (name: string) => fields.filter((f) => f.name.toLowerCase() === name.toLowerCase()).map((f) => f.value);
  return { fields, all, first: (n) => all(n)[0], has: (n) => all(n).length > 0 };
}

/** A MessageView over an in-memory message, for unit tests of the dmarc plugin's logic. */
export function messageView(raw: Buffer): MessageView {
  return {
    id: 'test-message', path: '/nonexistent', size: raw.length, headers: headerList(raw),
    stream: () => Readable.from([raw]),
    raw: async () => raw,
    parsed: async () => { throw new Error('not used by the dmarc plugin'); },
  };
}
