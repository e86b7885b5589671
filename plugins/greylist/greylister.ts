// The greylist decision over the state store: defer a new triplet, pass a retry after the delay, remember what passed.
import type { StateStore } from '../../core/index.ts';
import { comparableAddress } from '../../core/text/idn-address.ts';

export const KEY_PREFIX = 'greylist:';
/** A triplet waiting for its retry. */
export const WAIT = `${KEY_PREFIX}wait:`;
/** A triplet or client network that passed and is let through without delay. */
export const PASS = `${KEY_PREFIX}pass:`;
/** How many triplets of a client network have passed by retrying (for auto-allowing the network). */
export const PASSES = `${KEY_PREFIX}passes:`;

export interface Triplet {
  /** Client network, e.g. `192.0.2.0/24`. */
  client: string;
  /** Normalised sender, `<>` for the null sender. */
  sender: string;
  rcpt: string;
}

/** Stored with a waiting triplet. */
export interface WaitEntry { first: number; client: string; sender: string; rcpt: string }
/** Stored with a remembered triplet or client; `sender`/`rcpt` are absent for a client. */
export interface PassEntry { first?: number; passed: number; last: number; client: string; sender?: string; rcpt?: string; by?: string }

// Spaces separate the parts of a key; a space or % inside a part (a quoted local part) is escaped.
const esc = (s: string) => s.replace(/%/g, '%25').replace(/ /g, '%20');

/**
 * A triplet's key. Its addresses' domains are in one form (lower-case A-labels): under SMTPUTF8 an address keeps the
 * spelling its client wrote, and a retry to `taro@例え.jp` is the triplet that waited as `taro@xn--r8jz45g.jp`. An
 * ASCII address is its own form, so the keys stored before this are the keys still made.
 */
export function tripletId(t: Triplet): string { return `${esc(t.client)} ${esc(comparableAddress(t.sender))} ${esc(comparableAddress(t.rcpt))}`; }
export function waitKey(t: Triplet): string { return WAIT + tripletId(t); }
export function passTripletKey(t: Triplet): string { return PASS + tripletId(t); }
export function passClientKey(client: string): string { return PASS + esc(client); }
export function passesKey(client: string): string { return PASSES + esc(client); }
/** The client network a `greylist:passes:` key counts for. */
export function clientOfPassesKey(key: string): string {
  return key.slice(PASSES.length).replace(/%20/g, ' ').replace(/%25/g, '%');
}

/**
 * What to answer at RCPT. `passed` writes nothing yet: the caller records the pass with `recordPass` once the rest of
 * the chain accepted the recipient, so a retry to a user the server behind refuses earns no pass.
 */
export type Decision =
  | { action: 'known'; by: 'triplet' | 'client' | 'host'; waited?: { first: number; delayedMs: number } }
  | { action: 'passed'; delayedMs: number; first: number }
  | { action: 'defer'; first: boolean; retryInMs: number };

/** What recording a pass did: `counted` towards auto_allow_after (false when another session recorded it first). */
export interface PassRecord { counted: boolean; clientAllowed: boolean }

export interface GreylistTimes {
  delay: number;
  retryWindow: number;
  remember: number;
  rememberBy: 'triplet' | 'client';
  /** Triplets of one network that pass by retrying before the network itself is remembered; 0: never. */
  autoAllowAfter?: number;
}

function parse<T>(raw: string | null): T | undefined {
  if (raw === null) return undefined;
  try { return JSON.parse(raw) as T; } catch { return undefined; }
}

export class Greylister {
  private readonly store: StateStore;
  private readonly t: GreylistTimes;
  private readonly now: () => number;
  /** A remembered entry's expiry is pushed back at most this often, so a busy sender costs a write only now and then. */
  private readonly refreshEvery: number;

  constructor(store: StateStore, times: GreylistTimes, now: () => number = Date.now) {
    this.store = store;
    this.t = times;
    this.now = now;
    this.refreshEvery = Math.min(3_600_000, Math.floor(times.remember / 10));
  }

  /**
   * The answer for `t` at RCPT. `host` is the client's own address as `addr/32` or `addr/128`: an admin may allow one
   * address (`moat greylist allow 192.0.2.5/32`), which is looked up beside its network. `readOnly` (a `moat check`)
   * gives the same answer without starting a triplet's clock or refreshing a remembered entry.
   */
  async check(t: Triplet, host?: string, opts: { readOnly?: boolean } = {}): Promise<Decision> {
    const now = this.now();
    const clientKey = passClientKey(t.client);
    const tripletKey = passTripletKey(t);
    const hostKey = host !== undefined && host !== t.client ? passClientKey(host) : undefined;
    // The client key is read in triplet mode too: `moat greylist allow <ip>` writes it.
    const wk = waitKey(t);
    // The waiting entry is read alongside: a triplet that waited is let in by its network's allow (auto_allow_after
    // reached by its other triplets meanwhile) as a retry, and its message is marked as delayed like any other.
    const [byClient, byTriplet, byHost, waitedRaw] = await Promise.all([
      this.store.get(clientKey),
      this.t.rememberBy === 'triplet' ? this.store.get(tripletKey) : Promise.resolve(null),
      hostKey ? this.store.get(hostKey) : Promise.resolve(null),
      this.store.get(wk),
    ]);
    const found: Array<[string | null, string, 'triplet' | 'client' | 'host']> = [[byTriplet, tripletKey, 'triplet'], [byClient, clientKey, 'client'], [byHost, hostKey ?? '', 'host']];
    const hit = found.find(([raw]) => raw !== null);
    if (hit) {
      const [raw, key, by] = hit;
      const entry = parse<PassEntry>(raw);
      // An admin's allow keeps the expiry it was given (`--for`); only passes earned by retrying are pushed back.
      if (entry && !opts.readOnly && entry.by !== 'admin' && now - entry.last >= this.refreshEvery) {
        await this.store.set(key, JSON.stringify({ ...entry, last: now }), this.t.remember);
      }
      const waited = by === 'triplet' ? undefined : parse<WaitEntry>(waitedRaw);
      return waited ? { action: 'known', by, waited: { first: waited.first, delayedMs: now - waited.first } } : { action: 'known', by };
    }

    const fresh: WaitEntry = { first: now, client: t.client, sender: t.sender, rcpt: t.rcpt };
    // add() is atomic, so of two gateways seeing the same first attempt only one starts the clock.
    if (waitedRaw === null && !opts.readOnly && await this.store.add(wk, JSON.stringify(fresh), this.t.retryWindow)) {
      return { action: 'defer', first: true, retryInMs: this.t.delay };
    }
    const waiting = parse<WaitEntry>(waitedRaw ?? await this.store.get(wk));
    if (!waiting) {
      // Expired between the two calls, or unreadable: start over.
      if (!opts.readOnly) await this.store.set(wk, JSON.stringify(fresh), this.t.retryWindow);
      return { action: 'defer', first: true, retryInMs: this.t.delay };
    }
    const age = now - waiting.first;
    if (age < this.t.delay) return { action: 'defer', first: false, retryInMs: this.t.delay - age };
    if (age > this.t.retryWindow) {
      if (!opts.readOnly) await this.store.set(wk, JSON.stringify(fresh), this.t.retryWindow);
      return { action: 'defer', first: true, retryInMs: this.t.delay };
    }
    // The waiting entry stays until the pass is recorded: a retry whose recipient a later check refuses keeps its place.
    return { action: 'passed', delayedMs: age, first: waiting.first };
  }

  /**
   * Records that `t`, first seen at `first`, retried and was delivered: the triplet (or client) is remembered, its
   * waiting entry goes, and the pass counts towards auto_allow_after once, however many sessions or gateways record it.
   */
  async recordPass(t: Triplet, first: number): Promise<PassRecord> {
    const now = this.now();
    let counted = true;
    if (this.t.rememberBy === 'triplet') {
      const entry: PassEntry = { first, passed: now, last: now, client: t.client, sender: t.sender, rcpt: t.rcpt, by: 'retry' };
      // add() is atomic: of two sessions passing the same triplet at once, only the first counts it.
      counted = await this.store.add(passTripletKey(t), JSON.stringify(entry), this.t.remember);
    } else {
      await this.remember(t, first, now, 'retry');
    }
    await this.store.del(waitKey(t));
    return { counted, clientAllowed: counted && await this.countPass(t.client, now) };
  }

  /**
   * Counts a triplet of `client` that passed by retrying; at `autoAllowAfter` the network itself is remembered. A
   * client that has retried properly that often is a real mail server, and its other senders and recipients need
   * not wait again (Postgrey's auto-whitelist). True when this pass allowed the network.
   */
  private async countPass(client: string, now: number): Promise<boolean> {
    const after = this.t.autoAllowAfter ?? 0;
    if (this.t.rememberBy !== 'triplet' || after <= 0) return false;
    const n = await this.store.incr(passesKey(client), 1, this.t.remember);
    // At or past the count, and only once: a count that went past it (its network's allow purged, or two passes
    // counted at once) still allows the network, and add() lets one pass announce it.
    if (n < after) return false;
    const entry: PassEntry = { passed: now, last: now, client, by: 'auto' };
    return this.store.add(passClientKey(client), JSON.stringify(entry), this.t.remember);
  }

  /** Records a pass for the triplet or its client, as configured (also used by `moat greylist allow`). */
  async remember(t: Triplet, first: number | undefined, now: number, by: string): Promise<void> {
    const entry: PassEntry = this.t.rememberBy === 'client'
      ? { first, passed: now, last: now, client: t.client, by }
      : { first, passed: now, last: now, client: t.client, sender: t.sender, rcpt: t.rcpt, by };
    const key = this.t.rememberBy === 'client' ? passClientKey(t.client) : passTripletKey(t);
    await this.store.set(key, JSON.stringify(entry), this.t.remember);
  }
}
