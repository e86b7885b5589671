// The `dkim` block of mailmoat.yaml: which domains sign with which key, for which clients, over which header fields;
// and `dkim.arc`, the seal put on judged mail (arc-config.ts).
import { s, type Infer, type Issue, type Schema } from '../config/schema.ts';
import { notADomain } from '../config/domain-name.ts';
import { OUTBOUND_SENDERS } from '../verdict/outbound-fields.ts';
import { signingKeyProblem } from './key-file.ts';
import { SELECTOR } from './selector.ts';
import { arcConfigSchema } from './arc-config.ts';

/** The fields a reply, a thread and a MIME reader depend on; a receiver that sees one changed must see a failure. */
const DEFAULT_SIGNED_FIELDS = ['From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'Reply-To', 'MIME-Version', 'Content-Type', 'In-Reply-To', 'References'];

const fieldName = s.string({ pattern: /^[!-9;-~]+$/, patternName: 'a header field name such as Subject' });

export { SELECTOR };
const selector = s.string({ pattern: SELECTOR, patternName: 'a selector of DNS labels such as s1 or 2024-05' });

/** Parsed when the config is checked, so that check-config, start and reload all refuse a key that cannot sign. */
const keyFile = s.checked(s.string({ minLength: 1 }), (v, p, is) => {
  const problem = signingKeyProblem(v);
  if (problem) is.push({ path: p, message: problem });
});

function dkimIssues(v: { domains: Record<string, unknown>; headers: string[] }, p: string, is: Issue[]): void {
  const at = (k: string) => (p ? `${p}.${k}` : k);
  for (const name of Object.keys(v.domains)) {
    const why = notADomain(name);
    if (why) is.push({ path: at(`domains.${name}`), message: `${JSON.stringify(name)} ${why}` });
  }
  // RFC 6376 §5.4: the From field MUST be signed; without it a signature says nothing about who sent the mail.
  if (!v.headers.some((h) => h.toLowerCase() === 'from')) is.push({ path: at('headers'), message: 'must name From: a signature must cover the From field (RFC 6376 §5.4)' });
}

const dkimObject = s.object({
  domains: s.record(s.object({
    selector: selector.describe('The selector: the key is published in DNS at SELECTOR._domainkey.DOMAIN'),
    key_file: keyFile.describe('Absolute path of the PEM private key (RSA of 1024 bits or more, 2048 advised, or Ed25519; `moat dkim keygen` makes one); read at start and at each reload, which a missing, unreadable or unusable key refuses'),
  })).default({}).describe('Signing domains: mail whose header From is at one of these domains leaves with a DKIM signature of that domain, made with its key (README: DKIM signing)'),
  sign_for: s.array(s.enum(OUTBOUND_SENDERS)).default(['authenticated', 'relay_networks']).describe('Clients whose mail is signed, as headers.outbound_without_verdict names them: authenticated (a login, XCLIENT LOGIN= too), relay_networks; mail from anyone else is never signed'),
  subdomains: s.boolean().default(false).describe('Also sign mail whose From is at a subdomain of a signing domain (news.example.org signed as example.org)'),
  allow_header_from_mismatch: s.boolean().default(false).describe('Also sign mail whose header From domain differs from its envelope sender\'s (MAIL FROM) domain (Rspamd\'s allow_hdrfrom_mismatch); off, such mail leaves unsigned, so that a user or a relay.networks host cannot have its mail signed as another signing domain. An envelope domain at or under the signing domain counts as matching (a bounce or VERP domain); the null sender always does'),
  headers: s.array(fieldName).default(DEFAULT_SIGNED_FIELDS).describe('Header fields the signature covers when present (From is required)'),
  oversign: s.array(fieldName).default(['From']).describe('Fields signed once more than present, so that a copy of the mail with one such field added does not verify'),
  arc: arcConfigSchema.optionalValue().describe('ARC sealing (RFC 8617) of the mail the gateway judged, with the dmarc plugin\'s results, for a server behind it that trusts the gateway as a sealer (README: ARC sealing); unset, nothing is sealed'),
});

/** `arc` may be left out of a dkim block built in code (a test's, a plan's), as it may of the file's. */
type DkimConfig = Omit<Infer<typeof dkimObject>, 'arc'> & { arc?: Infer<typeof arcConfigSchema> };

export const dkimConfigSchema: Schema<DkimConfig> = s.checked(dkimObject, dkimIssues).default({} as never);
