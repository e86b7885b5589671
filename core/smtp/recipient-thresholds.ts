// A message is judged once, by one set of thresholds: with `scores.domains`, the recipients of one transaction must
// share theirs. One whose set differs from the first accepted recipient's is answered 452 4.5.3, which every MTA
// (Postfix, Exim, Sendmail) takes as "send it in a new transaction" at once, as amavisd splits by policy bank.
import type { Address } from '../hooks/context.ts';
import type { Transaction } from '../hooks/transaction.ts';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { sameThresholds, scoresFor, thresholdsFor, thresholdsText } from '../verdict/domain-thresholds.ts';

type Scores = GatewayConfig['scores'];

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

/**
 * The 452 4.5.3 for `rcpt` when its domain's thresholds differ from those of the transaction's first accepted
 * recipient, with the fields its log line gets; undefined when it may join. The first recipient is never split, so
 * each retry takes one more: the bayes plugin's split_recipients works the same way by dictionary, and a transaction
 * the two leave holds one dictionary and one threshold set.
 */
export function thresholdSplit(scores: Scores, tx: Transaction, rcpt: Address): { text: string; fields: Record<string, unknown> } | undefined {
  const first = tx.acceptedRcpts[0];
  if (first === undefined || Object.keys(scores.domains).length === 0) return undefined;
  const theirs = thresholdsFor(scores, domainOf(first));
  const its = thresholdsFor(scores, rcpt.domain);
  if (sameThresholds(its, theirs)) return undefined;
  return {
    text: `Too many recipients: send to <${rcpt.address}> in another transaction`,
    fields: { reason: 'scores.domains', thresholds: thresholdsText(its), first_to: first, first_thresholds: thresholdsText(theirs) },
  };
}

/**
 * The config a transaction's message is judged with: the thresholds of its first accepted recipient's domain. A
 * reload between RCPT and DATA may have changed `scores.domains`; the message then follows its first recipient.
 */
export function withRecipientThresholds<C extends { scores: Scores }>(cfg: C, tx: Transaction): C {
  const first = tx.acceptedRcpts[0];
  const scores = scoresFor(cfg.scores, first === undefined ? undefined : domainOf(first));
  return scores === cfg.scores ? cfg : { ...cfg, scores };
}
