// The day's records in the state store (embedded file or Redis), so that gateways sharing Redis make one report.
//
// Layout, for period P (ms since the epoch at which the interval starts, UTC) and policy domain D (in keys, its hash:
// a forger's 253-character names would otherwise take a row's room in every key):
//   dmarc:rua:periods            set of the periods holding records (no expiry: emptied as periods are reported)
//   dmarc:rua:P:domains          set of the policy domains of P;  dmarc:rua:P:ndomains  how many were admitted
//   dmarc:rua:P:D:policy         the record D published (JSON)
//   dmarc:rua:P:D:rows           set of the distinct records (report-record.ts), at most max_records of them
//   dmarc:rua:P:D:nrows          how many were admitted;  dmarc:rua:P:D:n:<hash>  messages of one record
//   dmarc:rua:P:D:over           messages beyond max_records;  dmarc:rua:P:overdomains  messages beyond max_domains
//   dmarc:rua:P:D:since          where the next report of D for P begins, after one sent before P ended (--now)
//   dmarc:rua:P:D:pending        the report built of D's records and not yet settled for each destination (report-pending.ts)
// A message costs one INCR when its record is known; a report subtracts what it counted, so messages recorded while it
// is built are left for the next one. A period is kept while its reports are tried (at its end and RETRIES intervals
// later) and no longer: its records expire then, and a sweep forgets it, reported or not.
import { createHash } from 'node:crypto';
import type { StateStore } from '../../core/index.ts';
import { decodePending, encodePending, type PendingReport } from './report-pending.ts';
import { decodePolicy, decodeRecord, encodeRecord, type PolicyPublished, type ReportRecord } from './report-record.ts';

const KEY = 'dmarc:rua:';
const PERIODS = `${KEY}periods`;
/**
 * How many times a period's reports are tried again, an interval apart, after the first try at its end. Counted in
 * intervals, not days, so that the store holds as many periods whatever the interval: the current one, the one just
 * ended and those being tried again.
 */
const RETRIES = 2;
/**
 * The longest record kept as a row. A real message's (its client, its domains, two or three DKIM results) takes
 * 150–400 bytes; only a forger's long names and pile of signatures make more, and are counted, not itemised, so that
 * a row costs the store a bounded number of bytes (the embedded store keeps one of 512 in about 1 KB).
 */
export const MAX_ROW_BYTES = 512;
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
const domainHash = (domain: string) => createHash('sha256').update(domain).digest('hex').slice(0, 16);

export class ReportStore {
  private readonly store: StateStore;
  private readonly o: ReportStoreOptions;
  private readonly keepMs: number;
  /** Periods this process has added to the periods set, and the domains it knows admitted in each. */
  private readonly known = new Map<number, Set<string>>();

  constructor(store: StateStore, o: ReportStoreOptions) {
    this.store = store;
    this.o = o;
    // The period, the interval its end is first tried in, and the retries.
    this.keepMs = (2 + RETRIES) * o.intervalMs;
  }

  periodOf(at: number): number {
    return Math.floor(at / this.o.intervalMs) * this.o.intervalMs;
  }

  private domainKey(p: number, d: string, kind: string): string {
    return `${KEY}${p}:${domainHash(d)}:${kind}`;
  }

  /** Adds one message's record to the period of `at`. */
  async record(at: number, policy: PolicyPublished, record: ReportRecord): Promise<RecordOutcome> {
    const p = this.periodOf(at);
    const d = policy.domain;
    // The rows, most of what a period holds, expire with it whenever they are written.
    const ttl = p + this.keepMs - at;
    if (!await this.admitDomain(p, policy, ttl)) {
      await this.store.incr(`${KEY}${p}:overdomains`, 1, ttl);
      return 'over-domains';
    }
    const text = encodeRecord(record);
    if (Buffer.byteLength(text) > MAX_ROW_BYTES) {
      await this.store.incr(this.domainKey(p, d, 'over'), 1, ttl);
      return 'over-records';
    }
    const countKey = this.domainKey(p, d, `n:${rowHash(text)}`);
    if (await this.store.incr(countKey, 1, ttl) > 1) return 'recorded';
    const rowsKey = this.domainKey(p, d, 'rows');
    // Counted down to 0 by a report sent before the period ended: the row is listed already.
    if (await this.store.sismember(rowsKey, text)) return 'recorded';
    if (await this.store.incr(this.domainKey(p, d, 'nrows'), 1, ttl) > this.o.maxRecords) {
      await this.store.del(countKey);
      await this.store.incr(this.domainKey(p, d, 'over'), 1, ttl);
      return 'over-records';
    }
    await this.store.sadd(rowsKey, text, ttl);
    return 'recorded';
  }

  /** Whether `policy.domain` has (or now gets) a place in period `p`, at most max_domains of them. */
  private async admitDomain(p: number, policy: PolicyPublished, ttl: number): Promise<boolean> {
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
      if (await this.store.incr(`${KEY}${p}:ndomains`, 1, ttl) > this.o.maxDomains) return false;
      await this.store.sadd(domainsKey, d, ttl);
    }
    // Written before the domain is known to this process, the latest record seen is the one reported.
    await this.store.set(this.domainKey(p, d, 'policy'), JSON.stringify(policy), ttl);
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
    if (n) await this.store.incr(key, -n, this.keepMs);
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

  /**
   * Takes what a report counted off the store, and makes the next report of `d` for `p` begin at `end`. Once `p` has
   * ended (`ended`), a row counted down to nothing is deleted: its report holds it now.
   */
  async consume(p: number, d: string, taken: DomainRecords, end: number, ended = false): Promise<void> {
    const rowsKey = this.domainKey(p, d, 'rows');
    await inBatches(taken.rows, async (r) => {
      const countKey = this.domainKey(p, d, `n:${rowHash(r.text)}`);
      // With the expiry a key gets if it expired meanwhile: a count left below zero must not outlive its period.
      const left = await this.store.incr(countKey, -r.count, this.keepMs);
      if (!ended || left > 0) return;
      await this.store.del(countKey);
      await this.store.srem(rowsKey, r.text);
    });
    if (taken.over) await this.store.incr(this.domainKey(p, d, 'over'), -taken.over, this.keepMs);
    await this.store.set(this.domainKey(p, d, 'since'), String(end), this.keepMs);
  }

  /** The report of `d` for `p` waiting for destinations not yet settled, if any. */
  async pending(p: number, d: string): Promise<PendingReport | undefined> {
    return decodePending(await this.store.get(this.domainKey(p, d, 'pending')));
  }

  /** Keeps `report` of `d` for `p` until every destination it lists is settled. */
  async keepPending(p: number, d: string, report: PendingReport): Promise<void> {
    await this.store.set(this.domainKey(p, d, 'pending'), encodePending(report), this.keepMs);
  }

  async dropPending(p: number, d: string): Promise<void> {
    await this.store.del(this.domainKey(p, d, 'pending'));
  }

  /** Whether period `p` is past its retention at `now`: no longer reported, only forgotten. */
  pastRetention(p: number, now: number): boolean {
    return p + this.keepMs <= now;
  }

  /** Forgets each period past its retention at `now`, whether or not it was reported; returns them. */
  async sweep(now: number): Promise<number[]> {
    const old = (await this.periods()).filter((p) => this.pastRetention(p, now));
    for (const p of old) await this.clear(p);
    return old;
  }

  /** Forgets period `p`: once all of it has been reported, or past its retention. */
  async clear(p: number): Promise<void> {
    for (const d of await this.domains(p)) {
      const texts = await this.store.smembers(this.domainKey(p, d, 'rows'));
      await inBatches(texts, (text) => this.store.del(this.domainKey(p, d, `n:${rowHash(text)}`)));
      for (const kind of ['rows', 'nrows', 'policy', 'over', 'since', 'pending']) await this.store.del(this.domainKey(p, d, kind));
    }
    for (const kind of ['domains', 'ndomains', 'overdomains']) await this.store.del(`${KEY}${p}:${kind}`);
    await this.store.srem(PERIODS, String(p));
  }
}
