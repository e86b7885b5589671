// Which chain runs belong to a `moat check`, and what each of its hooks answered. The front door and the message
// intake run a check's transaction as they run a client's; the hook runner asks here whether a run is a check's, by
// the services object the check's own runtime hands to every hook, since no other argument reaches every run.
import type { Services } from '../hooks/context.ts';
import type { HookName } from '../hooks/hook-names.ts';
import type { Outcome } from '../hooks/outcome.ts';
import type { SessionState, Transaction } from '../hooks/transaction.ts';

/** One hook's run in a check: the outcome the chain gave and the plugin that decided it (none for continue). */
export interface HeardHook {
  hook: HookName;
  /** rcptTo: the recipient checked. */
  rcpt?: string;
  outcome: Outcome;
  plugin?: string;
}

export class CheckObserver {
  readonly heard: HeardHook[] = [];
  /** The transaction the check's hooks ran in (its findings and verdict), once MAIL FROM began one. */
  tx?: Transaction;

  /**
   * Marks the session as a check's before a plugin sees it, and says whether the hook runs at all: afterVerdict does
   * not, as its observers act on a verdict (learning, recording) that no client was given.
   */
  begin(hook: HookName, session: SessionState, tx: Transaction | undefined): boolean {
    (session as { check?: boolean }).check = true;
    if (tx) this.tx = tx;
    return hook !== 'afterVerdict';
  }

  end(hook: HookName, rcpt: string | undefined, outcome: Outcome, plugin: string | undefined): void {
    this.heard.push({ hook, ...(rcpt !== undefined ? { rcpt } : {}), outcome, ...(plugin ? { plugin } : {}) });
  }
}

const checks = new WeakMap<Services, CheckObserver>();

/** Ties `observer` to the services of a check's runtime: every hook run given them is that check's. */
export function observeCheck(services: Services, observer: CheckObserver): void { checks.set(services, observer); }

/** The check that a hook run given `services` belongs to, or undefined for a client's. */
export function checkOf(services: Services): CheckObserver | undefined { return checks.get(services); }
