// The verdict's spam fields of a quarantined message rewritten for its release: a person judged it wanted, so every
// spam mark the gateway wrote says not spam, while X-Mailmoat-Verdict and the score keep why it was held.

/** Where a prepended block splits into fields: after a line end that no continuation line follows. */
const FIELD_START = /(?<=\r\n)(?![ \t])/;

const nameOf = (field: string) => field.slice(0, Math.max(0, field.indexOf(':'))).trim().toLowerCase();

/**
 * The gateway's own spam fields: plugins may not write these names (core/message/header-block.ts), so wherever they
 * stand in the block they are the verdict's.
 */
function releasedOwnField(name: string, field: string): string {
  if (name === 'x-mailmoat-spam') return 'X-Mailmoat-Spam: No\r\n';
  if (name === 'x-mailmoat-spam-level') return 'X-Mailmoat-Spam-Level: None\r\n';
  return field;
}

/**
 * SpamAssassin's fields as the verdict wrote them, before X-Mailmoat-Verdict: the flag goes (SpamAssassin writes
 * none on ham), the status says No with its score and tests kept, the level has no stars.
 */
function releasedSpamAssassinField(name: string, field: string): string {
  if (name === 'x-spam-flag') return '';
  if (name === 'x-spam-status') return field.replace(/^(X-Spam-Status:[ \t]*)Yes\b/i, '$1No');
  if (name === 'x-spam-level') return 'X-Spam-Level: \r\n';
  return field;
}

/**
 * `prepend` (the queue entry's header lines) with the verdict's spam fields saying not spam. Only the verdict's own
 * are touched: SpamAssassin's fields count as the verdict's when they stand before X-Mailmoat-Verdict, where it writes
 * them; an X-Spam-Flag after it is a plugin's (a rule's add_header), which is the admin's and stays as written. A
 * block without X-Mailmoat-Verdict (headers.outbound_without_verdict left the verdict's fields out) has none.
 */
export function releasedSpamFields(prepend: string): string {
  const fields = prepend.split(FIELD_START);
  const verdictAt = fields.findIndex((f) => nameOf(f) === 'x-mailmoat-verdict');
  return fields.map((f, i) => {
    const name = nameOf(f);
    return i < verdictAt ? releasedSpamAssassinField(name, f) : releasedOwnField(name, f);
  }).join('');
}
