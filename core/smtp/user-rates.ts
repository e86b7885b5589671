// MAIL FROM and RCPT TO against the rate limits, with a logged-in user's reaching its limit told once: a stolen
// password sending from many addresses shows as one line per user and limit (`user rate limit reached`) and a count
// (user_rate_limits_reached, without the user as a label, which would make a series per login), not a line per refusal.
import type { Logger } from '../log/types.ts';
import type { Runtime } from '../runtime.ts';
import type { SessionState } from '../hooks/transaction.ts';
import type { RateRefusal } from './client-rates.ts';
import { loggedUser } from './session-log-fields.ts';

/** Counts one MAIL FROM or RCPT TO of the session's client (by login, when the user rate is set); the refusal when over. */
export function takeRate(rt: Runtime, st: SessionState, kind: 'message' | 'recipient', log: Logger): RateRefusal | undefined {
  const refused = rt.connections.rates.take(rt, st.remote.ip, kind, st.user);
  if (refused?.reached && st.user) {
    log.warn('user rate limit reached', { user: loggedUser(st.user), client: st.remote.ip, ...refused.fields });
    rt.metrics.inc('user_rate_limits_reached');
  }
  return refused;
}
