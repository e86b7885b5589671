// What to do with a message that fails DMARC: the domain's policy, sampled by pct= as RFC 7489 6.6.4 says.

export type PolicyAction = 'reject' | 'quarantine' | 'none';

export function normalisedPolicy(p: string | undefined): PolicyAction {
  const v = (p ?? '').toLowerCase();
  return v === 'reject' || v === 'quarantine' ? v : 'none';
}

/**
 * The action for a failing message. Messages outside the pct= sample get the next milder policy
 * (reject → quarantine, quarantine → none).
 */
export function enforcedAction(policy: string | undefined, pct: number | string | undefined, applyPct: boolean, random: () => number = Math.random): PolicyAction {
  const action = normalisedPolicy(policy);
  if (action === 'none' || !applyPct) return action;
  const n = Number(pct ?? 100);
  const share = Number.isFinite(n) ? Math.min(100, Math.max(0, n)) : 100;
  if (share >= 100 || random() * 100 < share) return action;
  return action === 'reject' ? 'quarantine' : 'none';
}

export function failSymbol(policy: string | undefined): string {
  return `DMARC_FAIL_${normalisedPolicy(policy).toUpperCase()}`;
}
