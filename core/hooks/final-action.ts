// A filter's last word on a message (Proxmox Mail Gateway's final actions), as the data hook's outcome: the rules and
// scripts plugins both end a message this way, so a refusal, a deferral, a hold or a drop means the same from either.
import { outcome, type Outcome } from './outcome.ts';
import type { HookContext } from './context.ts';

export type FinalAction =
  | { kind: 'reject' | 'tempfail'; text: string; code?: number; enhanced?: string }
  /** `text`: a note after who decided, in the reason the message is logged with. */
  | { kind: 'quarantine' | 'discard'; text?: string };

/**
 * The outcome that ends the message as `action` says; `by` names the rule or script that decided, in the reason the
 * message is logged with. A discard drops every recipient and lets the verdict answer 250,
 * so the sender cannot tell it from a delivery.
 */
export function finalActionOutcome(ctx: HookContext, action: FinalAction, by: string): Outcome | undefined {
  switch (action.kind) {
    case 'reject': return outcome.reject(action.text, { code: action.code, enhanced: action.enhanced, reason: by });
    case 'tempfail': return outcome.tempfail(action.text, { code: action.code, enhanced: action.enhanced, reason: by });
  }
  const reason = action.text ? `${by}: ${action.text}` : by;
  if (action.kind === 'quarantine') return outcome.quarantine(reason);
  for (const r of ctx.recipients) ctx.discardRecipient(r.address, reason);
  return undefined;
}
