// The author addresses of a message: every address in its From fields (a group's members included).
import addressparser from 'nodemailer/lib/addressparser';
import type { MessageView } from '../../core/index.ts';

/** Lower-cased addresses of every From field, in order; empty when there is none or none parses. */
export function fromAddresses(message: MessageView | undefined): string[] {
  const out: string[] = [];
  for (const value of message?.headers.all('From') ?? []) {
    for (const a of addressparser(value, { flatten: true })) {
      const address = (a.address ?? '').trim().toLowerCase();
      if (address.includes('@')) out.push(address);
    }
  }
  return [...new Set(out)];
}
