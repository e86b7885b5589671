// The DNS TXT record that publishes a DKIM public key (RFC 6376 §3.6.1; RFC 8463 §4 for Ed25519).
import { createPublicKey, type KeyObject } from 'node:crypto';

/** One string of a TXT record holds at most 255 octets; a 2048-bit key's record needs two. */
const TXT_STRING_MAX = 255;

/** The tags of the record for the private or public `key`: `v=DKIM1; k=rsa; p=…`. */
export function dkimRecordText(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const type = pub.asymmetricKeyType;
  // RSA publishes the SubjectPublicKeyInfo; Ed25519 only the 32 octets of the key, the last ones of its SPKI.
  const der = pub.export({ type: 'spki', format: 'der' });
  const p = (type === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
  return `v=DKIM1; k=${type === 'ed25519' ? 'ed25519' : 'rsa'}; p=${p}`;
}

/** The record as a zone file line: `s1._domainkey.example.org. IN TXT "…" "…"`. */
export function dkimZoneLine(domain: string, selector: string, key: KeyObject): string {
  const text = dkimRecordText(key);
  const strings: string[] = [];
  for (let i = 0; i < text.length; i += TXT_STRING_MAX) strings.push(`"${text.slice(i, i + TXT_STRING_MAX)}"`);
  return `${selector}._domainkey.${domain.replace(/\.$/, '')}. IN TXT ${strings.join(' ')}`;
}
