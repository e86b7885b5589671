// Whether clamd answers, for the gateway's readiness probe: one PING on a fresh connection, bounded in time, with
// what on_error makes of mail while it does not.
import type { PluginInstance } from '../../core/index.ts';
import { ClamdClient, type ClamdTarget } from './clamd-client.ts';
import type { ClamavConfig } from './config.ts';

type Health = NonNullable<PluginInstance['health']>;

/** The `health` of a plugin instance scanning with clamd at `target`. */
export function clamdHealth(cfg: Pick<ClamavConfig, 'on_error'>, target: ClamdTarget): Health {
  const effect = cfg.on_error === 'tempfail' ? 'tempfail' : 'degraded';
  const meanwhile = effect === 'tempfail' ? 'mail is deferred (on_error: tempfail)' : 'mail passes unscanned (on_error: accept)';
  return async (timeoutMs) => {
    // Its own timeouts bound the connect and the reply apart; the timer below bounds the two together.
    const client = new ClamdClient({ target, connectTimeout: timeoutMs, scanTimeout: timeoutMs });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`clamd at ${client.address}: no answer to PING within ${timeoutMs} ms`)), timeoutMs);
    });
    let problem: string;
    try {
      if (await Promise.race([client.ping(), late])) return undefined;
      problem = `clamd at ${client.address} gave an unexpected answer to PING`;
    } catch (err) {
      problem = (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
    return { problem: `${problem}; ${meanwhile}`, effect };
  };
}
