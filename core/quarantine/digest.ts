// The quarantine digest: for each recipient in the local domains with mail held in the quarantine, one mail listing it
// (since the last digest, or all of it), queued in the delivery queue as the gateway's notices are, so it is relayed
// and retried like any mail. And its schedule, for the running gateway.
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../log/types.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { domainToASCII } from 'node:url';
import { domainArg, domainOf } from '../queue/actions.ts';
import { newQueueId } from '../queue/queue-id.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import { isAscii } from '../text/ascii.ts';
import { enteredFolderAt } from '../queue/entry-times.ts';
import type { DigestConfig } from './digest-config.ts';
import { buildDigestMail, DIGEST_ITEMS_MAX, type DigestItem } from './digest-mail.ts';
import { readLastDigest, writeLastDigest } from './digest-state.ts';
import { summarize } from './summary.ts';
import { loadTicketKey, signTicket } from './ticket.ts';

export interface DigestDeps {
  dataDir: string;
  /** The queue's store: the quarantine is read from it and digests are queued in it. */
  store: QueueStore;
  /** Hands a queued digest to the relay workers; absent when no gateway runs (its next start delivers it). */
  schedule?: (entry: QueueEntry) => void;
  /** Read at each run, so a reload applies to the next digest. */
  config: () => DigestConfig;
  hostname: () => string;
  /** The gateway's `domains`: digests go to these unless `quarantine_digest.domains` names others. */
  localDomains: () => readonly string[];
  /** True once the gateway is stopping: a run ends between two recipients. */
  stopping?: () => boolean;
  log?: Logger;
}

export interface DigestOptions {
  /** Everything held, not only what arrived since the last digest. */
  all?: boolean;
  /** Report what would be sent; queue nothing and keep the time of the last digest. */
  dryRun?: boolean;
  /** Only this recipient's digest (the time of the last digest is kept: the others got none). */
  to?: string;
}

export interface DigestListing { id: string; receivedAt: number; sender: string; subject: string; score?: number }

export interface DigestReport {
  /** Start of the period listed (ms), null for everything held. */
  since: number | null;
  dryRun: boolean;
  digests: Array<{ to: string; messages: number; queueId?: string; error?: string; listed?: DigestListing[] }>;
}

/** Files read at once while the digest reads the quarantined messages' headers. */
const READS_IN_FLIGHT = 16;

/** Recipients still held in the quarantine, in the digest's domains, each with their messages, oldest first. */
async function heldByRecipient(store: QueueStore, domains: Set<string>, since: number | undefined, until: number, only?: string): Promise<Map<string, { address: string; entries: QueueEntry[] }>> {
  const out = new Map<string, { address: string; entries: QueueEntry[] }>();
  const held = (await store.list('quarantine')).sort((a, b) => a.receivedAt - b.receivedAt);
  for (const e of held) {
    const at = enteredFolderAt(e);
    // Up to the run's start: a message quarantined while the digest runs is in the next one.
    if ((since !== undefined && at < since) || at >= until) continue;
    for (const r of e.recipients) {
      const key = r.address.toLowerCase();
      if (r.status !== 'pending' || !domains.has(asciiDomain(domainOf(r.address))) || (only !== undefined && key !== only)) continue;
      const group = out.get(key) ?? { address: r.address, entries: [] };
      group.entries.push(e);
      out.set(key, group);
    }
  }
  return out;
}

/** A domain in its A-label form: recipients keep the form they were sent in, `domains` the one it was written in. */
function asciiDomain(d: string): string {
  const name = domainArg(d);
  return domainToASCII(name) || name;
}

const linksFor = (base: string, ticket: string) => ({
  release: `${base}/quarantine/release?t=${ticket}`,
  delete: `${base}/quarantine/delete?t=${ticket}`,
});

/** One digest run; see DigestOptions. A recipient whose digest cannot be queued is reported, the others still get theirs. */
export async function runDigest(deps: DigestDeps, opts: DigestOptions = {}): Promise<DigestReport> {
  // The period ends now, or where a message still being committed into the quarantine begins: its time has passed
  // but it cannot be listed yet, and the next period starts where this one ends.
  const started = Math.min(Date.now(), deps.store.oldestQuarantineCommit() ?? Infinity);
  const cfg = deps.config();
  const since = opts.all ? undefined : readLastDigest(deps.dataDir);
  const domains = new Set((cfg.domains.length ? cfg.domains : deps.localDomains()).map(asciiDomain));
  const groups = await heldByRecipient(deps.store, domains, since, started, opts.to?.toLowerCase());
  const hostname = deps.hostname();
  const from = cfg.from || `postmaster@${hostname}`;
  const base = cfg.link_base ? cfg.link_base.replace(/\/+$/, '') : undefined;
  let key: KeyObject | undefined;
  const expires = started + cfg.ticket_lifetime;
  const report: DigestReport = { since: since ?? null, dryRun: !!opts.dryRun, digests: [] };
  let interrupted = false;
  for (const { address, entries } of groups.values()) {
    // A stop does not wait for the rest of a long run; the period is kept, so the next run sends them all again.
    if (deps.stopping?.()) { interrupted = true; break; }
    const shown = entries.slice(0, DIGEST_ITEMS_MAX);
    const items: DigestItem[] = [];
    await forEachBounded(shown, READS_IN_FLIGHT, async (e) => { items.push(await summarize(deps.store, e)); });
    items.sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : 1));
    if (opts.dryRun) {
      report.digests.push({ to: address, messages: entries.length, listed: items.map(({ id, receivedAt, sender, subject, score }) => ({ id, receivedAt, sender, subject, score })) });
      continue;
    }
    if (base) {
      key ??= loadTicketKey(deps.dataDir);
      for (const it of items) it.links = linksFor(base, signTicket(key, { id: it.id, address, expires }));
    }
    const now = Date.now();
    const data = buildDigestMail({ from, to: address, hostname, items, more: entries.length - shown.length, since, linksExpire: base ? expires : undefined, now });
    const entry: QueueEntry = {
      id: newQueueId(), mailFrom: '', recipients: [{ address, status: 'pending' }],
      prepend: '', remove: [], receivedAt: now, size: data.length,
      client: { ip: '127.0.0.1', helo: hostname }, authenticated: false,
      attempts: 0, nextAttemptAt: now, history: [],
      // The digest's own To names its addressee: an address beyond ASCII needs SMTPUTF8, as for a notice.
      ...(isAscii(address) ? {} : { smtputf8: true }),
    };
    try {
      await deps.store.enqueue(entry, data);
    } catch (e) {
      report.digests.push({ to: address, messages: entries.length, error: (e as Error).message });
      deps.log?.warn('quarantine digest could not be queued; it is tried again at the next run', { to: address, error: (e as Error).message });
      continue;
    }
    deps.schedule?.(entry);
    report.digests.push({ to: address, messages: entries.length, queueId: entry.id });
    deps.log?.info('quarantine digest queued', { qid: entry.id, to: address, messages: entries.length });
  }
  // The period moves on only once everyone in it got their digest: a failed one lists the same mail next time.
  // A kill before this line sends the digests of this run again at the next one, never fewer.
  if (interrupted) deps.log?.warn('quarantine digest stopped part way: the whole period is sent again at the next run', { queued: report.digests.length, recipients: groups.size });
  else if (!opts.dryRun && opts.to === undefined && report.digests.every((d) => !d.error)) writeLastDigest(deps.dataDir, started);
  return report;
}

export interface DigestSchedule {
  /** A run now (the CLI through the control socket), in turn with the scheduled ones. */
  runNow(opts?: DigestOptions): Promise<DigestReport>;
  /** Sets the next run from the config as it is now: a reload that enables the digest or changes its interval. */
  rearm(): void;
  stop(): Promise<void>;
}

/** The schedule looks at its config at least this often, so a reload that enables it or changes its interval applies. */
const RECHECK_MS = 3_600_000;
/** After a run that failed for some recipient, the next try waits this long rather than looping. */
const RETRY_MS = 15 * 60_000;

/**
 * Runs the digest every `interval` after the last one while `enabled` is set, from the time the last digest was sent
 * (data_dir/quarantine-digest.json), so a restart neither skips nor repeats one; with no digest sent yet, the first
 * runs at once and lists everything held. Call once the queue is recovered.
 */
export function startDigestSchedule(deps: DigestDeps): DigestSchedule {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let notBefore = 0;
  const inTurn = (opts: DigestOptions = {}): Promise<DigestReport> => {
    const run = chain.catch(() => undefined).then(() => runDigest({ ...deps, stopping: () => stopped || !!deps.stopping?.() }, opts));
    chain = run.catch(() => undefined);
    return run;
  };
  // A run under way arms the next one itself when it ends: arming now as well would start a second chain of timers.
  let running = false;
  const arm = () => {
    clearTimeout(timer);
    if (stopped || running) return;
    const cfg = deps.config();
    const due = cfg.enabled ? Math.max((readLastDigest(deps.dataDir) ?? 0) + cfg.interval, notBefore) : Infinity;
    timer = setTimeout(tick, Math.max(0, Math.min(due - Date.now(), RECHECK_MS)));
    timer.unref();
  };
  const tick = async () => {
    const cfg = deps.config();
    if (!stopped && cfg.enabled && Date.now() >= notBefore && (readLastDigest(deps.dataDir) ?? 0) + cfg.interval <= Date.now()) {
      running = true;
      try {
        const r = await inTurn();
        if (r.digests.some((d) => d.error)) notBefore = Date.now() + RETRY_MS;
      } catch (e) {
        notBefore = Date.now() + RETRY_MS;
        deps.log?.warn('quarantine digest failed; tried again later', { error: (e as Error).message });
      } finally { running = false; }
    }
    arm();
  };
  arm();
  return {
    runNow: (opts) => inTurn(opts),
    rearm() { clearTimeout(timer); arm(); },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await chain;
    },
  };
}

export function stopDigestSchedule(schedule: DigestSchedule): Promise<void> {
  return schedule.stop();
}
