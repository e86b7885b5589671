// The quarantine digest: for each recipient in the local domains with mail held in the quarantine, one mail listing it
// (since the last digest, or all of it), queued in the delivery queue as the gateway's notices are, so it is relayed
// and retried like any mail. And its schedule, for the running gateway.
import { createHash, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Logger } from '../log/types.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { domainToASCII } from 'node:url';
import { domainArg, domainOf } from '../queue/actions.ts';
import { newQueueId } from '../queue/queue-id.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import { isAscii } from '../text/ascii.ts';
import type { DigestConfig } from './digest-config.ts';
import { buildDigestMail, DIGEST_ITEMS_MAX, messageLinks, type DigestItem } from './digest-mail.ts';
import { DigestProgress, readDigestState, writeDigestState, type DigestRun } from './digest-state.ts';
import { HeldIndex, type HeldMessage } from './held-index.ts';
import { DEFAULT_DELIMITERS, mailboxOf, sentToShown } from './mailbox.ts';
import { summarize } from './summary.ts';
import { loadTicketKey, signRecipientTicket } from './ticket.ts';

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
  /** queue.quarantine_lifetime, which the digest tells its reader (null: kept until deleted). */
  quarantineLifetime?: () => number | null | undefined;
  /**
   * The recipient delimiters in force (recipientDelimiters in mailbox.ts: the user-lists plugin's `recipient_delimiter`
   * while it runs): with `+`, mail to `ann+shop@` is listed in `ann@`'s digest. Default none: one digest per address.
   */
  listDelimiters?: () => string;
  log?: Logger;
}

export interface DigestOptions {
  /** Everything held, not only what arrived since the last digest. */
  all?: boolean;
  /** Report what would be sent; queue nothing and keep the time of the last digest. */
  dryRun?: boolean;
  /** Only this recipient's digest, their mailbox's (the time of the last digest is kept: the others got none). */
  to?: string;
}

/** `to`: the addresses the message was sent to, when one of them is a tagged form of the digest's mailbox. */
/** `heldFor`: why it is held (summary.ts: heldForText); `recipientMayRelease: false` when only an administrator may release it. */
export interface DigestListing {
  id: string; receivedAt: number; sender: string; subject: string; score?: number; to?: string[]; heldFor?: string; recipientMayRelease?: false;
}

export interface DigestReport {
  /** Start of the period listed (ms), null for everything held. */
  since: number | null;
  dryRun: boolean;
  digests: Array<{ to: string; messages: number; queueId?: string; error?: string; listed?: DigestListing[] }>;
  /** Recipients of this period already served by an earlier run that was cut short (this one resumed it). */
  resumed?: number;
}

/** A link's life when the quarantine keeps messages until an administrator deletes them. */
const DEFAULT_TICKET_LIFETIME_MS = 30 * 86_400_000;

/** Files read at once while the digest reads the quarantined messages' headers. */
const READS_IN_FLIGHT = 16;
/** Recipients whose digests are built and queued at once: each queueing waits on fsyncs, which then overlap. */
const DIGESTS_IN_FLIGHT = 8;

/** One mailbox's digest: `address` is the mailbox (mailbox.ts), the one digest its tagged addresses share. */
interface HeldGroup { address: string; held: HeldMessage[] }

/**
 * Mailboxes with mail held in the quarantine, in the digest's domains, each with the messages of the period, oldest
 * first, ordered by their oldest message. Read through the held index: ids and times only, whatever the quarantine holds.
 */
async function heldByMailbox(index: HeldIndex, domains: Set<string>, since: number | undefined, until: number, only?: string): Promise<HeldGroup[]> {
  const out: HeldGroup[] = [];
  for (const [mailbox, newest] of await index.byMailbox()) {
    if (!domains.has(asciiDomain(domainOf(mailbox))) || (only !== undefined && mailbox !== only)) continue;
    // Up to the run's start: a message quarantined while the digest runs is in the next one.
    const held = newest.filter((h) => (since === undefined || h.enteredAt >= since) && h.enteredAt < until).reverse();
    if (held.length) out.push({ address: mailbox, held });
  }
  const first = (g: HeldGroup) => g.held[0];
  return out.sort((a, b) => first(a).receivedAt - first(b).receivedAt || (first(a).id < first(b).id ? -1 : 1));
}

/** A domain in its A-label form: recipients keep the form they were sent in, `domains` the one it was written in. */
function asciiDomain(d: string): string {
  const name = domainArg(d);
  return domainToASCII(name) || name;
}

/**
 * The queue id of a recorded run's digest for one recipient: the same when the run is resumed, so a digest queued
 * just before a crash (after the last progress write) is found in the queue rather than queued again. Its time part
 * is the period's end, so ids still sort by time; its length sets it apart from every id newQueueId makes.
 */
function digestId(run: DigestRun, address: string): string {
  const hash = createHash('sha256').update(`${run.since ?? ''}|${run.until}|${address.toLowerCase()}`).digest('hex');
  return `${run.until.toString(36).padStart(9, '0')}dg${hash.slice(0, 16)}`;
}

/**
 * Whether that digest is in the queue already. Its state file is written after its message file, so a message file
 * alone is what a process killed while queueing it left: never acknowledged, removed here so the digest can be queued.
 */
async function alreadyQueued(store: QueueStore, id: string): Promise<boolean> {
  if (existsSync(store.jsonPath(id))) return true;
  await unlink(store.emlPath(id)).catch(() => undefined);
  return false;
}

/**
 * At a start, before recovered messages go to delivery: the recorded run's digests found in the queue are marked
 * served (a crash can come between a digest's queueing and the progress write that names it), so that the resumed
 * run does not send a second one should the first be delivered before the run looks for it.
 */
export async function adoptRecoveredDigests(dataDir: string, recovered: readonly QueueEntry[]): Promise<void> {
  const state = readDigestState(dataDir);
  const run = state.run;
  if (!run) return;
  let adopted = 0;
  for (const e of recovered) {
    const address = e.mailFrom === '' && e.recipients.length === 1 ? e.recipients[0].address : undefined;
    if (address && !run.queued.has(address.toLowerCase()) && e.id === digestId(run, address)) { run.queued.add(address.toLowerCase()); adopted++; }
  }
  if (adopted) await writeDigestState(dataDir, state);
}

/**
 * One digest run; see DigestOptions. A recipient whose digest cannot be queued is reported, the others still get
 * theirs. A run for everyone keeps its progress (digest-state.ts): one cut short by a stop, a crash or a failure to
 * queue is resumed by the next run, for the same period and only the recipients not served yet, before a new period
 * starts.
 */
export async function runDigest(deps: DigestDeps, opts: DigestOptions = {}): Promise<DigestReport> {
  const cfg = deps.config();
  const state = readDigestState(deps.dataDir);
  // A dry run writes nothing, and one recipient's digest (--to) is an extra: neither is a run of the period.
  const recorded = !opts.dryRun && opts.to === undefined;
  // `--all` is a new run of everything held, which covers the period of a run cut short as well.
  const resume = opts.all || opts.to !== undefined ? undefined : state.run;
  // The period ends now, or where a message still being committed into the quarantine begins: its time has passed
  // but it cannot be listed yet, and the next period starts where this one ends.
  const until = resume?.until ?? Math.min(Date.now(), deps.store.oldestQuarantineCommit() ?? Infinity);
  const since = resume ? resume.since : opts.all ? undefined : state.last;
  const progress = new DigestProgress(deps.dataDir, state.last, { since, until, queued: resume?.queued ?? new Set() });
  const domains = new Set((cfg.domains.length ? cfg.domains : deps.localDomains()).map(asciiDomain));
  const delimiters = deps.listDelimiters?.() ?? DEFAULT_DELIMITERS;
  const index = new HeldIndex(deps.store, { maxAgeMs: 0, delimiters: () => delimiters });
  const groups = await heldByMailbox(index, domains, since, until, opts.to === undefined ? undefined : mailboxOf(opts.to, delimiters));
  const pending = groups.filter((g) => !progress.has(g.address));
  const hostname = deps.hostname();
  const from = cfg.from || `postmaster@${hostname}`;
  const base = cfg.link_base ? cfg.link_base.replace(/\/+$/, '') : undefined;
  let key: KeyObject | undefined;
  const expires = Date.now() + (cfg.ticket_lifetime ?? deps.quarantineLifetime?.() ?? DEFAULT_TICKET_LIFETIME_MS);
  // The period is on disk before its first digest is queued, so a run resumed after a crash lists the same mail.
  if (recorded && pending.length && !resume) await progress.save();

  const noteQueued = (address: string, recorded?: () => void) => progress.queued(address, recorded).catch((e: Error) => {
    deps.log?.warn('quarantine digest progress could not be written; a run resumed after a crash may send some digests again', { error: e.message });
  });
  const results: Array<DigestReport['digests'][number] | undefined> = [];
  let interrupted = false;
  let served = 0;
  const digestFor = async ({ address, held }: HeldGroup): Promise<DigestReport['digests'][number] | undefined> => {
    // The newest are the ones a recipient is looking for; a dry run, the administrator's view, shows them all.
    const wanted = opts.dryRun ? held : held.slice(-DIGEST_ITEMS_MAX);
    const items: DigestItem[] = [];
    let gone = 0;
    // A slice at a time, so a dry run of a mailbox with 20,000 held never has all their entries in memory at once.
    for (let at = 0; at < wanted.length; at += DIGEST_ITEMS_MAX) {
      const slice = wanted.slice(at, at + DIGEST_ITEMS_MAX);
      const loaded = await index.load(address, slice);
      gone += slice.length - loaded.length;
      await forEachBounded(loaded, READS_IN_FLIGHT, async ({ entry, to }) => {
        const shownTo = sentToShown(to, address);
        items.push({ ...await summarize(deps.store, entry), ...(shownTo.length ? { to: shownTo } : {}) });
      });
    }
    // Newest first, as the recipient's page lists them (and says so): the newest are the ones a recipient looks for.
    items.sort((a, b) => b.receivedAt - a.receivedAt || (a.id < b.id ? 1 : -1));
    // Released or deleted since the index was read: nothing left to tell.
    if (!items.length) return undefined;
    const messages = held.length - gone;
    if (opts.dryRun) {
      return { to: address, messages, listed: items.map(({ id, receivedAt, sender, subject, score, to, heldFor, recipientMayRelease }) =>
        ({ id, receivedAt, sender, subject, score, ...(to ? { to } : {}), ...(heldFor ? { heldFor } : {}), ...(recipientMayRelease ? {} : { recipientMayRelease: false as const }) })) };
    }
    const id = recorded ? digestId(progress.run, address) : newQueueId();
    // Only a resumed run can find one: a new period's ids are new.
    if (resume && await alreadyQueued(deps.store, id)) {
      await noteQueued(address);
      return { to: address, messages, queueId: id };
    }
    let mineLink: string | undefined;
    if (base) {
      key ??= loadTicketKey(deps.dataDir);
      // Signed into each ticket, so `moat quarantine revoke` ends the links mailed before it and spares later ones.
      const issued = Date.now();
      for (const it of items) {
        const links = messageLinks(key, base, { id: it.id, address, expires, issued });
        // No Release link for a message only an administrator may release: its ticket would be refused anyway.
        it.links = it.recipientMayRelease ? links : { delete: links.delete };
      }
      mineLink = `${base}/quarantine/mine?t=${signRecipientTicket(key, { address, expires, issued })}`;
    }
    const now = Date.now();
    const data = buildDigestMail({ from, to: address, hostname, items, older: messages - items.length, since, mineLink, linksExpire: base ? expires : undefined, keptFor: deps.quarantineLifetime?.(), now });
    const entry: QueueEntry = {
      id, mailFrom: '', recipients: [{ address, status: 'pending' }],
      prepend: '', remove: [], receivedAt: now, size: data.length,
      client: { ip: '127.0.0.1', helo: hostname }, authenticated: false,
      attempts: 0, nextAttemptAt: now, history: [],
      // The digest's own To names its addressee: an address beyond ASCII needs SMTPUTF8, as for a notice.
      ...(isAscii(address) ? {} : { smtputf8: true }),
    };
    try {
      await deps.store.enqueue(entry, data);
    } catch (e) {
      deps.log?.warn('quarantine digest could not be queued; it is tried again at the next run', { to: [address], error: (e as Error).message });
      return { to: address, messages, error: (e as Error).message };
    }
    // The held messages it names, so a release that follows can be traced back to the digest (the first 50).
    deps.log?.info('quarantine digest queued', { qid: entry.id, to: [address], messages, listed: items.slice(0, 50).map((it) => it.id) });
    // Queued (durable), then noted in the progress (in batches), and handed to delivery only once a write names it:
    // a crash before that write leaves it in the queue, where a resumed run finds it (alreadyQueued) and the start
    // that recovers it marks it served before delivering it (adoptRecoveredDigests). Delivered before it was noted,
    // it could be gone from the queue when the run resumed, and be sent twice.
    if (recorded) await noteQueued(address, () => deps.schedule?.(entry));
    else deps.schedule?.(entry);
    return { to: address, messages, queueId: entry.id };
  };
  try {
    await forEachBounded(pending.map((group, i) => ({ group, i })), DIGESTS_IN_FLIGHT, async ({ group, i }) => {
      // A stop does not wait for the rest of a long run: the next run sends the rest.
      if (interrupted || deps.stopping?.()) { interrupted = true; return; }
      results[i] = await digestFor(group);
      served++;
    });
  } finally {
    // Whatever ended the run (a digest that could not even be built included), what it queued is recorded, then
    // delivered; a last write that failed still delivers them (a rare duplicate after a crash, never a lost digest).
    if (recorded) {
      const unsaved = (interrupted || served < pending.length || results.some((d) => d?.error));
      if (unsaved) await progress.save().catch((e: Error) => deps.log?.warn('quarantine digest progress could not be written', { error: e.message }));
    }
  }
  const report: DigestReport = {
    since: since ?? null, dryRun: !!opts.dryRun, digests: results.filter((d): d is DigestReport['digests'][number] => d !== undefined),
    ...(progress.resumed ? { resumed: progress.resumed } : {}),
  };
  if (!recorded) return report;
  const failed = report.digests.filter((d) => d.error).length;
  if (!interrupted && !failed) {
    // The period moves on only once everyone in it got their digest.
    try { await progress.complete(); } finally { for (const f of progress.takeWaiting()) f(); }
    return report;
  }
  for (const f of progress.takeWaiting()) f();
  if (interrupted) deps.log?.warn('quarantine digest stopped part way: the next run sends the rest', { queued: progress.run.queued.size, digests: groups.length });
  else deps.log?.warn('quarantine digest incomplete: the next run sends the digests not queued', { failures: failed, digests: groups.length });
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
 * runs at once and lists everything held. A run cut short is resumed at once, for the recipients it had not served.
 * Call once the queue is recovered.
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
  // A run cut short (a stop, a crash, a digest that could not be queued) is due at once: it only sends the rest.
  const dueAt = (cfg: DigestConfig) => {
    const state = readDigestState(deps.dataDir);
    return state.run ? 0 : (state.last ?? state.checked ?? 0) + cfg.interval;
  };
  // A run under way arms the next one itself when it ends: arming now as well would start a second chain of timers.
  let running = false;
  const arm = () => {
    clearTimeout(timer);
    if (stopped || running || deps.stopping?.()) return;
    const cfg = deps.config();
    const due = cfg.enabled ? Math.max(dueAt(cfg), notBefore) : Infinity;
    timer = setTimeout(tick, Math.max(0, Math.min(due - Date.now(), RECHECK_MS)));
    timer.unref();
  };
  const tick = async () => {
    const cfg = deps.config();
    if (!stopped && cfg.enabled && Date.now() >= notBefore && dueAt(cfg) <= Date.now()) {
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
