// Answers "does the server behind take this address?" from the cache, from a probe already under way, or by a new probe
// within the cap on probes in flight.
import type { Logger, StateStore } from '../../core/index.ts';
import type { SmarthostTarget } from '../../core/relay/smarthost.ts';
import { ResultCache, type Known } from './cache.ts';
import { probe, type ProbeResult } from './probe.ts';

export type Verification = (Known & { source: 'cache' | 'probe' | 'shared' }) | { status: 'unknown'; reason: string };

export interface VerifierOptions {
  store: StateStore;
  positiveTtl: number;
  negativeTtl: number;
  maxProbes: number;
  heloName: string;
}

export class Verifier {
  private readonly cache: ResultCache;
  private readonly o: VerifierOptions;
  /** Probes under way by lower-cased address: a second RCPT for the same address waits for the first one's answer. */
  private readonly inFlight = new Map<string, Promise<ProbeResult>>();

  constructor(o: VerifierOptions) {
    this.o = o;
    this.cache = new ResultCache(o.store, o.positiveTtl, o.negativeTtl);
  }

  get probesInFlight(): number { return this.inFlight.size; }

  /** `log`: the transaction's, so every line about this recipient (the probe's own, the cache's) names its cid and qid. */
  async verify(address: string, target: SmarthostTarget, log: Logger): Promise<Verification> {
    const key = address.toLowerCase();
    const shared = this.join(key, log);
    if (shared) return shared;
    let known: Known | undefined;
    try { known = await this.cache.get(address); } catch (e) {
      // The store being down costs a probe, not the recipient: a warning, as the store's own outage line is.
      log.warn('recipient-verify cannot read its cache; verifying without it, by a probe', { to: [address], error: String(e) });
    }
    if (known) return { ...known, source: 'cache' };
    // Looked up again: another RCPT may have started a probe while the cache answered.
    const late = this.join(key, log);
    if (late) return late;
    if (this.inFlight.size >= this.o.maxProbes) return { status: 'unknown', reason: `${this.inFlight.size} probes in flight already (max_probes)` };
    const running = this.run(address, target, log);
    this.inFlight.set(key, running);
    try {
      return withSource(await running, 'probe');
    } finally {
      this.inFlight.delete(key);
    }
  }

  private join(key: string, log: Logger): Promise<Verification> | undefined {
    const running = this.inFlight.get(key);
    if (!running) return undefined;
    log.debug('recipient-verify waits for the probe in flight', { to: [key] });
    return running.then((r) => withSource(r, 'shared'));
  }

  /** The probe, then its answer stored before it is let go of, so a later RCPT finds it in the cache. */
  private async run(address: string, target: SmarthostTarget, log: Logger): Promise<ProbeResult> {
    const r = await probe(target, address, this.o.heloName, log);
    if (r.status !== 'unknown') {
      try { await this.cache.put(address, r); } catch (e) {
        // The answer still decides this RCPT; only the next one for the address costs another probe.
        log.warn('recipient-verify cannot store a result; it works without its cache, the address is probed again next time', { to: [address], error: String(e) });
      }
    }
    return r;
  }
}

function withSource(r: ProbeResult, source: 'probe' | 'shared'): Verification {
  return r.status === 'unknown' ? r : { ...r, source };
}
