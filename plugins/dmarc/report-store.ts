// The day's records in the state store (embedded file or Redis), so that gateways sharing Redis make one report.
//
// Layout, for period P (ms since the epoch at which the interval starts, UTC) and policy domain D:
//   dmarc:rua:periods            set of the periods holding records (no expiry: emptied as periods are reported)
//   dmarc:rua:P:domains          set of the policy domains of P;  dmarc:rua:P:ndomains  how many were admitted
//   dmarc:rua:P:D:policy         the record D published (JSON)
//   dmarc:rua:P:D:rows           set of the distinct records (report-record.ts), at most max_records of them
//   dmarc:rua:P:D:nrows          how many were admitted;  dmarc:rua:P:D:n:<hash>  messages of one record
//   dmarc:rua:P:D:over           messages beyond max_records;  dmarc:rua:P:overdomains  messages beyond max_domains
//   dmarc:rua:P:D:since          where the next report of D for P begins, after one sent before P ended (--now)
// A message costs one INCR when its record is known; a report subtracts what it counted, so messages recorded while it
// is built are left for the next one.
import { createHash } from 'node:crypto';
import type { StateStore } from '../../core/index.ts';
import { decodePolicy, decodeRecord, encodeRecord, type PolicyPublished, type ReportRecord } from './report-record.ts';

const KEY = 'dmarc:rua:';
const PERIODS = `${KEY}periods`;
/** How long a period's records wait to be reported before they expire: retried each interval for a week. */
const KEEP_AFTER_MS = 7 * 86_400_000;
/** Store calls made side by side while a report is read or settled. */
const BATCH = 64;

export type RecordOutcome = 'recorded' | 'over-records' | 'over-domains';

export interface StoredRow { text: string; record: ReportRecord; count: number }

/** What the store holds for one policy domain of one period. */
export interface DomainRecords {
  policy?: PolicyPublished;
  rows: StoredRow[];
  /** Messages not recorded as rows (max_records). */
  over: number;
  /** Where its report begins (ms): the period's start, or the end of a report sent before the period ended. */
  since: number;
  /** Stored rows that could not be read (a damaged or foreign value). */
  unreadable: number;
}

export interface ReportStoreOptions { intervalMs: number; maxRecords: number; maxDomains: number }

async function inBatches<T, R>(items: readonly T[], each: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(...await Promise.all(items.slice(i, i + BATCH).map(each)));
  return out;
}

const rowHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 24);

export class ReportStore {
  private readonly store: StateStore;
  private readonly o: ReportStoreOptions;
  private readonly keepMs: number;
  /** Periods this process has added to the periods set, and the domains it knows admitted in each. */
  private readonly known = new Map<number, Set<string>>();

  constructor(store: StateStore, o: ReportStoreOptions) {
    this.store = store;
    this.o = o;
    this.keepMs = o.intervalMs + KEEP_AFTER_MS;
  }

  periodOf(at: number): number {
    return Math.floor(at / this.o.intervalMs) * this.o.intervalMs;
  }

  private domainKey(p: number, d: string, kind: string): string {
    return `${KEY}${p}:${d}:${kind}`;
  }

  /** Adds one message's record to the period of `at`. */
  async record(at: number, policy: PolicyPublished, record: ReportRecord): Promise<RecordOutcome> {
    const p = this.periodOf(at);
    const d = policy.domain;
    if (!await this.admitDomain(p, policy)) {
      await this.store.incr(`${KEY}${p}:overdomains`, 1, this.keepMs);
      return 'over-domains';
    }
    const text = encodeRecord(record);
    const countKey = this.domainKey(p, d, `n:${rowHash(text)}`);
    if (await this.store.incr(countKey, 1, this.keepMs) > 1) return 'recorded';
    const rowsKey = this.domainKey(p, d, 'rows');
    // Counted down to 0 by a report sent before the period ended: the row is listed already.
    if (await this.store.sismember(rowsKey, text)) return 'recorded';
    if (await this.store.incr(this.domainKey(p, d, 'nrows'), 1, this.keepMs) > this.o.maxRecords) {
      await this.store.del(countKey);
      await this.store.incr(this.domainKey(p, d, 'over'), 1, this.keepMs);
      return 'over-records';
    }
    await this.store.sadd(rowsKey, text, this.keepMs);
    return 'recorded';
  }

  /** Whether `policy.domain` has (or now gets) a place in period `p`, at most max_domains of them. */
  private async admitDomain(p: number, policy: PolicyPublished): Promise<boolean> {
    let domains = this.known.get(p);
    if (!domains) {
      await this.store.sadd(PERIODS, String(p));
      // Only the current period and the one before it take records.
      for (const old of this.known.keys()) if (old < p - this.o.intervalMs) this.known.delete(old);
      domains = new Set();
      this.known.set(p, domains);
    }
    const d = policy.domain;
    if (domains.has(d)) return true;
    const domainsKey = `${KEY}${p}:domains`;
    if (!await this.store.sismember(domainsKey, d)) {
      if (await this.store.incr(`${KEY}${p}:ndomains`, 1, this.keepMs) > this.o.maxDomains) return false;
      await this.store.sadd(domainsKey, d, this.keepMs);
    }
    // Written before the domain is known to this process, the latest record seen is the one reported.
    await this.store.set(this.domainKey(p, d, 'policy'), JSON.stringify(policy), this.keepMs);
    domains.add(d);
    return true;
  }

  /** The periods holding records, oldest first. */
  async periods(): Promise<number[]> {
    return (await this.store.smembers(PERIODS)).map(Number).filter((n) => Number.isSafeInteger(n) && n >= 0).sort((a, b) => a - b);
  }

  async domains(p: number): Promise<string[]> {
    return (await this.store.smembers(`${KEY}${p}:domains`)).sort();
  }

  /** Messages of period `p` not recorded because max_domains was reached since this was last asked, taken off the count. */
  async takeOverDomains(p: number): Promise<number> {
    const key = `${KEY}${p}:overdomains`;
    const n = Number(await this.store.get(key)) || 0;
    if (n) await this.store.incr(key, -n);
    return n;
  }

  async read(p: number, d: string): Promise<DomainRecords> {
    const policy = decodePolicy(await this.store.get(this.domainKey(p, d, 'policy')));
    const texts = await this.store.smembers(this.domainKey(p, d, 'rows'));
    let unreadable = 0;
    const rows = (await inBatches(texts, async (text) => {
      const record = decodeRecord(text);
      if (!record) { unreadable++; return undefined; }
      const count = Number(await this.store.get(this.domainKey(p, d, `n:${rowHash(text)}`))) || 0;
      return count > 0 ? { text, record, count } : undefined;
    })).filter((r): r is StoredRow => !!r);
    const over = Number(await this.store.get(this.domainKey(p, d, 'over'))) || 0;
    const since = Number(await this.store.get(this.domainKey(p, d, 'since'))) || p;
    return { policy, rows, over, since, unreadable };
  }

  /** Takes what a report counted off the store, and makes the next report of `d` for `p` begin at `end`. */
  async consume(p: number, d: string, taken: DomainRecords, end: number): Promise<void> {
    await inBatches(taken.rows, (r) => this.store.incr(this.domainKey(p, d, `n:${rowHash(r.text)}`), -r.count));
    if (taken.over) await this.store.incr(this.domainKey(p, d, 'over'), -taken.over);
    await this.store.set(this.domainKey(p, d, 'since'), String(end), this.keepMs);
  }

  /** Forgets period `p` once all of it has been reported. */
  async clear(p: number): Promise<void> {
    for (const d of await this.domains(p)) {
      const texts = await this.store.smembers(this.domainKey(p, d, 'rows'));
      await inBatches(texts, (text) => this.store.del(this.domainKey(p, d, `n:${rowHash(text)}`)));
      for (const kind of ['rows', 'nrows', 'policy', 'over', 'since']) await this.store.del(this.domainKey(p, d, kind));
    }
    for (const kind of ['domains', 'ndomains', 'overdomains']) await this.store.del(`${KEY}${p}:${kind}`);
    await this.store.srem(PERIODS, String(p));
  }
}
