// The schema of `quarantine_digest`: a mail to each recipient listing what was quarantined for them, with links to
// release or delete each message (Proxmox Mail Gateway's daily spam report).
import { s, TIMER_MAX_MS, type Infer } from '../config/schema.ts';

const httpsBase = s.checked(s.string({ pattern: /^https:\/\/[^\s/?#]+[^\s?#]*$/, patternName: 'an https:// URL without query or fragment' }), (v, p, is) => {
  try { new URL(v); } catch { is.push({ path: p, message: `is not a URL: ${JSON.stringify(v)}` }); }
});

export const digestConfigSchema = s.object({
  enabled: s.boolean().default(false).describe('Send each recipient a digest of their quarantined mail on a schedule'),
  interval: s.duration({ min: 60_000, max: TIMER_MAX_MS }).default(86_400_000).describe('Time between two digests; each lists what arrived in the quarantine since the last one'),
  from: s.string().default('').describe('From address of the digest (default postmaster@<server.hostname>); its envelope sender is <>'),
  link_base: httpsBase.optionalValue()
    .describe('https:// address under which the gateway\'s web server answers /quarantine/release, /quarantine/delete and the recipient\'s own page; unset: the digest tells users to ask their administrator, and every /quarantine/ page answers 404 (links already mailed stop working). A reload applies it to the next request'),
  // A message is listed in one digest only, so a link that died before the message left the quarantine would leave
  // the recipient nothing but the administrator to ask.
  ticket_lifetime: s.duration({ min: 60_000 }).optionalValue()
    .describe('How long the release and delete links of a digest work (unset: as long as the message is kept, queue.quarantine_lifetime, or 30d when that is null)'),
  domains: s.array(s.string()).default([]).describe('Recipient domains that get digests (empty = every domain in domains)'),
}).default({} as never);

export type DigestConfig = Infer<typeof digestConfigSchema>;
