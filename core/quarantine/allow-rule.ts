// When an entry on a recipient's allow list counts for their mail, as the recipient's page says it: the user-lists
// plugin's `allow_needs_auth` and the plugins that can prove a sender genuine decide it, so the page reads them from
// the running config rather than promising a check the gateway does not make.

/** What the user-lists plugin of a config asks of an allowed sender before the entry counts. */
export interface AllowRule {
  /** `allow_needs_auth`: the address must be proven its domain's own. */
  needsAuth: boolean;
  /** An spf plugin runs, so an envelope sender can be proven (SPF pass). */
  envelopeProvable: boolean;
  /** A dmarc plugin runs before user-lists, so a From address can be proven (DMARC pass, or an aligned DKIM signature). */
  fromProvable: boolean;
}

type PluginEntries = { plugins: ReadonlyArray<{ name: string } & Record<string, unknown>> };

/**
 * The rule a config's user-lists plugin applies, read as the plugin reads it (plugins/user-lists: its entry's
 * `allow_needs_auth`, true by default, and the chain's names); undefined when no user-lists plugin runs.
 */
export function allowRuleOf(config: PluginEntries): AllowRule | undefined {
  const names = config.plugins.map((p) => p.name);
  const index = names.indexOf('user-lists');
  if (index < 0) return undefined;
  return {
    needsAuth: config.plugins[index].allow_needs_auth !== false,
    envelopeProvable: names.includes('spf'),
    fromProvable: names.slice(0, index).includes('dmarc'),
  };
}

const STILL_HELD = 'mail that is plainly spam or carries a virus may still be kept from you.';

/**
 * The page's sentence on allow entries. Without a rule (the caller could not say which applies) it says only what is
 * true in every config.
 */
export function allowRuleText(rule: AllowRule | undefined): string {
  if (!rule) {
    return 'A sender on your allow list counts in favour of its mail where this gateway accepts the sender as genuine '
      + `(it may require the sender's domain to prove the mail is its own); ${STILL_HELD}`;
  }
  if (!rule.needsAuth) return `A sender on your allow list counts strongly in favour of its mail; ${STILL_HELD}`;
  if (rule.envelopeProvable && rule.fromProvable) {
    return 'A sender on your allow list counts strongly in favour of its mail when its domain proves the mail is its own '
      + `(SPF for the envelope sender; DMARC or an aligned DKIM signature for the From address); ${STILL_HELD}`;
  }
  if (rule.envelopeProvable) {
    return 'A sender on your allow list counts strongly in favour of its mail only as the envelope sender, and when its '
      + `domain proves the mail is its own (SPF); an entry matching only the From address does not count. Still, ${STILL_HELD}`;
  }
  if (rule.fromProvable) {
    return 'A sender on your allow list counts strongly in favour of its mail only as the From address, and when its '
      + `domain proves the mail is its own (DMARC or an aligned DKIM signature). Still, ${STILL_HELD}`;
  }
  return 'An allow entry does not count in favour of mail on this gateway now, as it requires proof of the sender that '
    + 'none of its checks gives; an entry still lifts a block of the same sender.';
}
