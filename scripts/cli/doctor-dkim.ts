// `moat doctor`'s DKIM check, as opendkim-testkey does it: the key each signing domain publishes in DNS must be the
// public half of its key_file, or every signature the gateway makes for it fails at the receiver; so must the ARC
// sealing key (dkim.arc), or every seal does.
import type { DoctorCheck, CheckLine } from './doctor.ts';
import { createResolver } from '../../core/dns/index.ts';
import { DnsError, type DnsResolver } from '../../core/dns/types.ts';
import { readSigningKey } from '../../core/dkim/key-file.ts';
import { signingName } from '../../core/dkim/keyring.ts';
import { dkimRecordText, dkimZoneLine } from '../../core/dkim/dns-record.ts';

/** The tags of a DKIM key record (RFC 6376 §3.6.1), names lower-cased, values without their folding white space. */
function recordTags(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}

/** A TXT record that is a DKIM key record: a `p=`, and `v=DKIM1` when it has a `v=` (which receivers require then). */
function isKeyRecord(tags: Map<string, string>): boolean {
  return tags.has('p') && (!tags.has('v') || tags.get('v') === 'DKIM1');
}

/** `k=` and `p=` as a receiver reads them: `k=` defaults to rsa. */
const keyOf = (tags: Map<string, string>) => `${(tags.get('k') || 'rsa').toLowerCase()} ${tags.get('p')}`;

/** The line for the key of `d`: a signing domain's, or with `arc` the sealing key's, which a record not its own breaks. */
async function domainLine(dns: DnsResolver, name: string, d: { selector: string; key_file: string }, arc = false): Promise<CheckLine> {
  const line = await keyLine(dns, name, d, arc);
  return arc ? { ...line, text: `ARC seal: ${line.text}` } : line;
}

async function keyLine(dns: DnsResolver, name: string, d: { selector: string; key_file: string }, arc: boolean): Promise<CheckLine> {
  const domain = signingName(name);
  const at = `${d.selector}._domainkey.${domain}`;
  let ours: string;
  let publish: string;
  try {
    const { key } = readSigningKey(d.key_file);
    ours = keyOf(recordTags(dkimRecordText(key)));
    publish = dkimZoneLine(domain, d.selector, key);
  } catch (e) {
    // The config check above names what is wrong with the key; there is nothing to compare.
    return { status: 'note', text: `${domain}: ${at} not compared: ${(e as Error).message}` };
  }
  const meanwhile = arc
    ? `every ARC seal the gateway makes fails, and the server behind it cannot rely on the results it carries; publish: ${publish}`
    : `every signature the gateway makes for ${domain} fails at receivers; publish: ${publish}`;
  let texts: string[];
  try {
    texts = await dns.resolveTxt(at);
  } catch (e) {
    if (e instanceof DnsError && (e.code === 'NXDOMAIN' || e.code === 'NODATA')) return { status: 'fail', text: `${domain}: missing: no TXT record at ${at} (${e.code}): ${meanwhile}` };
    return { status: 'note', text: `${domain}: ${at} could not be looked up (${(e as Error).message}); not compared` };
  }
  const records = texts.map(recordTags).filter(isKeyRecord);
  if (!records.length) return { status: 'fail', text: `${domain}: missing: ${at} has no DKIM key record (TXT with p=): ${meanwhile}` };
  const matching = records.filter((r) => keyOf(r) === ours);
  if (!matching.length) {
    const revoked = records.every((r) => r.get('p') === '');
    return { status: 'fail', text: `${domain}: ${revoked ? 'revoked: the record at' : 'mismatch:'} ${at} ${revoked ? 'has an empty p=' : `publishes another key than ${d.key_file}`}: ${meanwhile}` };
  }
  if (records.length > 1) {
    return { status: 'warn', text: `${domain}: ${at} publishes the key of ${d.key_file} and ${records.length - 1} other DKIM record(s): a receiver may take either; keep only the one` };
  }
  return { status: 'ok', text: `${domain}: ${at} publishes the key of ${d.key_file}` };
}

export const dkimCheck: DoctorCheck = {
  name: 'dkim',
  async run({ config }) {
    const domains = Object.entries(config.dkim?.domains ?? {});
    const arc = config.dkim?.arc;
    if (!domains.length && !arc) return [{ status: 'ok', text: 'no dkim.domains: no mail is signed' }];
    // Asked through dns.servers, as the gateway asks; without a cache, so a record just published shows.
    const dns = createResolver({ ...config.dns, cache_size: 0 });
    const lines: CheckLine[] = [];
    for (const [name, d] of domains) lines.push(await domainLine(dns, name, d));
    // The seal's key is published as a DKIM key record too; a receiver looks it up as it looks up a signature's.
    if (arc) lines.push(await domainLine(dns, arc.domain, arc, true));
    return lines;
  },
};
