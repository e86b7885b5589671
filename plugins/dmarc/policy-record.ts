// Whether a DMARC record's policy tags can be acted on (RFC 7489 6.6.3). mailauth hands back whatever `p=` and `sp=`
// say, so `p=bogus` would otherwise be treated as a policy of its own.

/** How a record found for the From domain is used. */
export type RecordUse =
  | { use: 'as-published' }
  /** `p=` or `sp=` invalid but a valid `rua=`: evaluated as if the record said `p=none`. */
  | { use: 'as-none'; problem: string }
  /** `p=` or `sp=` invalid and no valid `rua=`: no DMARC processing at all. */
  | { use: 'ignored'; problem: string };

const POLICIES = new Set(['none', 'quarantine', 'reject']);

/** Tags of a record as `tag=value` pairs separated by `;`, names lower-cased, values trimmed; the first of a name wins. */
export function recordTags(record: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** A DMARC URI (RFC 7489 6.4): a URI with a scheme, optionally followed by `!` and a size limit. */
function isReportUri(text: string): boolean {
  const uri = text.trim().replace(/![0-9]+[kmgt]?$/i, '');
  return /^[a-z][a-z0-9+.-]*:[^\s,!]+$/i.test(uri);
}

/** A record's value as it may appear in a header comment or a log detail: short, and nothing that ends a comment. */
function shown(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '?').slice(0, 32);
}

/**
 * How to use a DMARC record (its text as fetched, `v=DMARC1; p=…`). A missing `p=` counts as invalid, as the tag is
 * required in a policy record; an absent `sp=` is fine, an invalid one is not.
 */
export function recordUse(record: string): RecordUse {
  const t = recordTags(record);
  const p = t.get('p');
  const sp = t.get('sp');
  let problem: string | undefined;
  if (p === undefined) problem = 'no p=';
  else if (!POLICIES.has(p.toLowerCase())) problem = `invalid p=${shown(p)}`;
  else if (sp !== undefined && !POLICIES.has(sp.toLowerCase())) problem = `invalid sp=${shown(sp)}`;
  if (!problem) return { use: 'as-published' };
  const rua = (t.get('rua') ?? '').split(',');
  return rua.some(isReportUri) ? { use: 'as-none', problem } : { use: 'ignored', problem };
}
