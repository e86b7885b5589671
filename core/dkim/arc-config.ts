// The `dkim.arc` block of mailmoat.yaml: the domain, selector and key the gateway seals judged mail with (RFC 8617),
// and which clients' mail it seals. Absent, nothing is sealed.
import { s, type Issue } from '../config/schema.ts';
import { notADomain } from '../config/domain-name.ts';
import { readSigningKey } from './key-file.ts';
import { SELECTOR } from './selector.ts';

/**
 * The clients whose mail may be sealed: `inbound` is everyone else (neither a login nor an address in relay.networks),
 * the mail a gateway in front of the MX takes for its domains and hands to the server behind it.
 */
export const SEALED_CLIENTS = ['inbound', 'authenticated', 'relay_networks'] as const;
export type SealedClient = typeof SEALED_CLIENTS[number];

/**
 * Why `file` cannot seal, or undefined. mailauth's sealer signs with rsa-sha256 alone: an Ed25519 key, which DKIM
 * signing takes, would leave every message unsealed.
 */
export function sealingKeyProblem(file: string): string | undefined {
  try {
    const { type } = readSigningKey(file);
    if (type !== 'rsa') return `${file} holds an ${type} key: ARC seals with rsa-sha256 only; make one with moat dkim keygen DOMAIN SELECTOR --out FILE (RSA is its default)`;
  } catch (e) { return (e as Error).message; }
  return undefined;
}

const keyFile = s.checked(s.string({ minLength: 1 }), (v, p, is) => {
  const problem = sealingKeyProblem(v);
  if (problem) is.push({ path: p, message: problem });
});

function arcIssues(v: { domain: string; seal_for: string[] }, p: string, is: Issue[]): void {
  const why = v.domain === undefined ? undefined : notADomain(v.domain);
  if (why) is.push({ path: `${p}.domain`, message: `${JSON.stringify(v.domain)} ${why}` });
  if (v.seal_for?.length === 0) is.push({ path: `${p}.seal_for`, message: 'names no client: leave out dkim.arc to seal nothing' });
}

export const arcConfigSchema = s.checked(s.object({
  domain: s.string({ minLength: 1 }).describe('The sealing domain (d= of ARC-Seal and ARC-Message-Signature): the domain a downstream server is told to trust as an ARC sealer'),
  selector: s.string({ pattern: SELECTOR, patternName: 'a selector of DNS labels such as arc1' })
    .describe('The selector: the public key is published as a DKIM key record at SELECTOR._domainkey.DOMAIN'),
  key_file: keyFile.describe('Absolute path of the PEM private key, RSA of 1024 bits or more (2048 advised; `moat dkim keygen` makes one); read at start and at each reload, which a missing, unreadable, unsafe or Ed25519 key refuses'),
  seal_for: s.array(s.enum(SEALED_CLIENTS)).default(['inbound'])
    .describe('Clients whose mail is sealed: inbound (neither a login nor relay.networks: what the gateway accepts for its domains), authenticated, relay_networks; the dmarc plugin must have judged the mail (it skips the latter two unless its skip_trusted is off)'),
}), arcIssues);
