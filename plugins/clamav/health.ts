// Whether clamd answers, for the gateway's readiness probe. A clamd that answers slowly still scans every message,
// only later: that is `degraded`, never a reason to leave a balancer's pool, which would take out every gateway
// sharing a busy clamd. Only what fails a scan is: no connection, a refusal, an error, or no PONG within scan_timeout.
import type { PluginInstance } from '../../core/index.ts';
import { ClamdClient, type ClamdTarget } from './clamd-client.ts';
import type { ClamavConfig } from './config.ts';
import { ScanError } from './scan-result.ts';

type Health = NonNullable<PluginInstance['health']>;
type Problem = NonNullable<Awaited<ReturnType<Health>>>;

/** How a PING ended: PONG after `ms`, or why there was none. */
type Answer = { ms: number } | { failure: string };

/**
 * One PING at a time on a fresh connection, bounded by the plugin's own connect_timeout and scan_timeout, as a scan
 * is. A round of the readiness probe waits for it up to its own time (1 s); a PING still under way then is kept for
 * the next round rather than asked again, so a hung clamd holds one connection of ours, not one per probe.
 */
export class ClamdHealth {
  private readonly cfg: Pick<ClamavConfig, 'on_error' | 'connect_timeout' | 'scan_timeout'>;
  private readonly client: ClamdClient;
  private readonly closing = new AbortController();
  private asking?: { since: number; answer: Promise<Answer> };
  /** The last PING that ended: a failure stands until a PING is answered again, so a hung clamd does not flap. */
  private last?: Answer;

  constructor(cfg: Pick<ClamavConfig, 'on_error' | 'connect_timeout' | 'scan_timeout'>, target: ClamdTarget) {
    this.cfg = cfg;
    this.client = new ClamdClient({ target, connectTimeout: cfg.connect_timeout, scanTimeout: cfg.scan_timeout });
  }

  /** The `health` of the plugin instance. */
  readonly check: Health = async (timeoutMs) => {
    const asking = this.asking ??= this.ask();
    const answer = await within(asking.answer, timeoutMs);
    if (answer) {
      this.asking = undefined;
      this.last = answer;
      return this.judge(answer, timeoutMs);
    }
    const waited = Math.round(performance.now() - asking.since);
    if (this.last && 'failure' in this.last) return this.failing(`${this.last.failure}; asked again, no answer yet after ${waited} ms`);
    return {
      problem: `clamd at ${this.client.address} is slow: no answer to PING yet after ${waited} ms (a scan waits up to scan_timeout, ${this.cfg.scan_timeout} ms); mail is still scanned`,
      effect: 'degraded',
    };
  };

  /** Gives up a PING under way: called when the instance closes (a stop, a reload). */
  close(): void {
    this.closing.abort();
  }

  private ask(): { since: number; answer: Promise<Answer> } {
    const since = performance.now();
    const where = this.client.address;
    const answer = this.client.ping(this.closing.signal).then(
      (pong): Answer => pong ? { ms: Math.round(performance.now() - since) } : { failure: `clamd at ${where} gave an unexpected answer to PING` },
      (err: unknown): Answer => ({
        failure: err instanceof ScanError && err.kind === 'timeout'
          ? `clamd at ${where}: no answer to PING within scan_timeout (${this.cfg.scan_timeout} ms), so scans time out too`
          : (err as Error).message,
      }),
    );
    return { since, answer };
  }

  private judge(answer: Answer, timeoutMs: number): Problem | undefined {
    if ('failure' in answer) return this.failing(answer.failure);
    if (answer.ms <= timeoutMs) return undefined;
    return {
      problem: `clamd at ${this.client.address} is slow: PING answered in ${answer.ms} ms (a scan waits up to scan_timeout, ${this.cfg.scan_timeout} ms); mail is still scanned`,
      effect: 'degraded',
    };
  }

  /** What on_error makes of mail while clamd gives no verdict. */
  private failing(problem: string): Problem {
    return this.cfg.on_error === 'tempfail'
      ? { problem: `${problem}; mail is deferred (on_error: tempfail)`, effect: 'tempfail' }
      : { problem: `${problem}; mail passes unscanned (on_error: accept)`, effect: 'degraded' };
  }
}

/** `work`'s result if it settles within `ms`, else undefined (it goes on). */
async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
