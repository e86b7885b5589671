// Runs one hook across the chain: configured order, a timeout per plugin, and exceptions turned into tempfails.
import type { HookName } from './hook-names.ts';
import { OBSERVING_HOOKS } from './hook-names.ts';
import type { HookContext, Services, Address, CommandView } from './context.ts';
import type { Outcome } from './outcome.ts';
import { outcomeProblem } from './outcome.ts';
import type { LoadedPlugin } from '../plugin/loader.ts';
import { holdChain } from '../plugin/in-use.ts';
import type { Logger } from '../log/types.ts';
import type { SessionState, Transaction } from './transaction.ts';
import { forbiddenRecipientForm, toAddress } from '../smtp/address-policy.ts';
import { hiddenCodePoint, takenForm } from '../smtp/address-form.ts';
import { isAscii } from '../text/ascii.ts';
import { addedFieldNameProblem, FIELD_NAME } from '../message/header-block.ts';
import { findingSymbolProblem } from './finding-symbol.ts';
import { aLabelHostName } from '../text/idn-address.ts';
import type { Finding } from '../verdict/types.ts';
import { checkOf } from '../smtp/check-observer.ts';
import { runNoted } from '../log/event-loop-watch.ts';
import { countPluginError } from '../metrics.ts';
import { TIMER_MAX_MS } from '../config/schema.ts';

/** What an infinite finding score counts as: finite, so sums and the verdict header stay numbers. */
const CERTAIN_SCORE = 1000;

export interface HookResult {
  outcome: Outcome;
  /** The plugin whose outcome decided, if any. */
  plugin?: string;
  /** A refusal before DATA: the findings the refusing plugin recorded in this run (the metrics count them with it). */
  findings?: Finding[];
}

const CONTINUE: HookResult = { outcome: { action: 'continue' } };

class TimeoutError extends Error {}

function slot(map: Map<string, Record<string, unknown>>, name: string): Record<string, unknown> {
  let s = map.get(name);
  if (!s) { s = {}; map.set(name, s); }
  return s;
}

export interface RunArgs {
  hook: HookName;
  session: SessionState;
  tx?: Transaction;
  rcpt?: Address;
  log: Logger;
  services: Services;
  /** capabilities only: the EHLO keywords, edited in place by the plugins. */
  capabilities?: string[];
  /** Command hooks (noop, vrfy, rset, quit, unrecognizedCommand) only. */
  command?: CommandView;
  /** data only: how ctx.addRecipient judges a copy; without it, addRecipient is refused. */
  copies?: CopyPolicy;
}

/** The running config's limits on recipients a data hook adds, as the front door applies them at RCPT. */
export interface CopyPolicy {
  /** limits.max_recipients: recipients and copies together. */
  maxRecipients: number;
  /** access.blocked_recipients. */
  isBlocked(rcpt: Address): boolean;
}

/**
 * Whether a handler's changes still count. Once its timeout has passed the core has answered without it, yet the
 * handler runs on (a promise cannot be stopped): what it adds or rewrites then is dropped, or the client would have a
 * 451 for a message whose findings, headers or body changed afterwards, and a rewrite could leave a spool file of a
 * transaction that is over.
 */
class Lease {
  expired = false;
  private warned = false;
  private readonly log: Logger;
  private readonly plugin: string;
  private readonly hook: HookName;
  constructor(log: Logger, plugin: string, hook: HookName) { this.log = log; this.plugin = plugin; this.hook = hook; }
  /** True while changes count; else false, and one warning per handler run. */
  live(change: string): boolean {
    if (!this.expired) return true;
    if (!this.warned) this.log.warn('change after the plugin timed out ignored', { plugin: this.plugin, hook: this.hook, change });
    this.warned = true;
    return false;
  }
}

/**
 * Why `raw` (an address without its angle brackets) is not one the front door would take in RCPT TO, or undefined.
 * smtp-server has already rejected malformed paths for a client's own recipients; a plugin's strings come from its
 * config or a lookup, so the syntax a client could never get through is checked here as well. Exported for plugins
 * that check such addresses in their config at load (`isLocal` then says which IP literals are ours).
 */
export function recipientAddressProblem(raw: string, isLocal: (domain: string) => boolean): string | undefined {
  // Spaces, controls and brackets would end up on a RCPT line of the relay, or split one into two.
  if (!raw || /[\s\x00-\x1f\x7f<>]/.test(raw)) return 'not an address';
  const why = forbiddenRecipientForm(raw, isLocal);
  if (why) return why;
  const at = raw.lastIndexOf('@');
  if (at > 64 || raw.length > 254) return 'too long';
  // A dot-atom local part (RFC 5321 §4.1.2), as a client's RCPT would need: `a..b`, `a"b` or `a(b)` would go out
  // malformed on the relay's RCPT line, and the Haraka shim's address parser throws on them.
  if (!/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/.test(raw.slice(0, at))) return 'not a plain local part';
  const domain = raw.slice(at + 1);
  if (!domain.startsWith('[') && !/^[^.()\[\]\\,;:@"]+(\.[^.()\[\]\\,;:@"]+)*\.?$/.test(domain)) return 'not a domain';
  return undefined;
}

/** A recipient a plugin names (a redirect target, a copy) as the front door would take it in RCPT TO, or why not. */
function pluginRecipient(target: unknown, tx: Transaction, services: Services): Address | string {
  if (typeof target !== 'string') return 'not a string';
  const raw = /^<.*>$/.test(target) ? target.slice(1, -1) : target;
  const why = recipientAddressProblem(raw, (d) => services.isLocalDomain(d));
  if (why) return why;
  // The sender did not announce SMTPUTF8, so the message may not carry such an address onwards.
  if (!isAscii(raw) && !tx.mailFrom?.params.SMTPUTF8) return 'beyond ASCII without SMTPUTF8 on MAIL FROM';
  // What the front door refuses in a client's address (a right-to-left override, a zero-width space) a plugin cannot add.
  const hidden = hiddenCodePoint(raw);
  if (hidden) return `holds ${hidden}`;
  // In the form the front door takes a client's recipient in (its domain in A-labels), so it is one recipient with it.
  const taken = takenForm(raw);
  return taken === undefined ? 'not a domain' : toAddress(taken, {});
}

/**
 * Throws when a plugin passes what the message or the verdict cannot carry (a field name with a space, a symbol with
 * a line break). Thrown rather than ignored: the runner answers 451 and logs `plugin threw` with the plugin's name, as
 * the scripts plugin defers a script whose result it cannot use, so the mistake shows at once and costs no finding.
 */
function refuseMisuse(plugin: string, call: string, arg: unknown, problem: string | undefined): void {
  if (problem === undefined) return;
  const shown = typeof arg === 'string' ? JSON.stringify(arg.slice(0, 100)) : String(arg).slice(0, 100);
  throw new TypeError(`plugin ${plugin}: ${call}(${shown}) refused: ${problem}`);
}

/**
 * One run of a hook across the chain: which plugins read `rcptTargets` so far, so that a redirect coming after such a
 * read (the alias plugin listed after recipient-verify, say) is said in the log: the reader judged the alias's name.
 */
interface ChainRun {
  readonly chain: readonly LoadedPlugin[];
  readonly targetReaders: string[];
  /** Every finding recorded in this run, in or outside a transaction. */
  readonly recorded: Finding[];
}

/** Reader and redirector pairs already warned about, per chain (a reload makes a new one, which may be in order). */
const orderWarned = new WeakMap<readonly LoadedPlugin[], Set<string>>();

function warnOrderOnce(run: ChainRun, redirector: string, log: Logger): void {
  const readers = run.targetReaders.filter((r) => r !== redirector);
  if (readers.length === 0) return;
  let said = orderWarned.get(run.chain);
  if (!said) { said = new Set(); orderWarned.set(run.chain, said); }
  for (const reader of readers) {
    const key = `${reader}\n${redirector}`;
    if (said.has(key)) continue;
    said.add(key);
    log.warn('plugin order: a plugin checked the recipient before another redirected it', {
      reader, redirector,
      detail: `${reader} judged the address the client named, not where ${redirector} sends it: list ${redirector} before ${reader} in plugins`,
    });
  }
}

/** The hooks before a transaction's checks in which a plugin may name the client's verified host name. */
const VERIFIED_NAME_HOOKS: ReadonlySet<HookName> = new Set(['connect', 'helo', 'mailFrom']);

/**
 * A verified client name as the session keeps it: lower-case A-labels without the root's dot, or undefined for what is
 * no host name. A last label of digits is an address (`192.0.2.1` "resolves" to itself), as Postfix refuses it.
 */
function verifiedHostName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const host = aLabelHostName(name.replace(/\.$/, ''));
  return host && !/(^|\.)\d+$/.test(host) ? host : undefined;
}

/** A read-only copy of the redirect's targets, or the recipient itself when no plugin redirected it. */
function targetsView(a: RunArgs): readonly Readonly<Address>[] | undefined {
  if (a.hook !== 'rcptTo' || !a.rcpt) return undefined;
  const list = a.tx?.redirect?.targets ?? [a.rcpt];
  return Object.freeze(list.map((t) => Object.freeze({ ...t, params: Object.freeze({ ...t.params }) })));
}

function makeContext(p: LoadedPlugin, a: RunArgs, lease: Lease, run: ChainRun): HookContext {
  const tx = a.tx;
  // p.name is the entry's name: two entries of one module keep their state, findings and caps apart by it.
  return {
    hook: a.hook,
    pluginName: p.name,
    session: a.session,
    log: a.log.child({ plugin: p.name }),
    queueId: tx?.id,
    mailFrom: tx?.mailFrom,
    recipients: tx?.recipients ?? [],
    acceptedRcpts: tx?.acceptedRcpts,
    rcpt: a.rcpt,
    // A getter: it must show a redirect made after the context was built (by this plugin, or while it awaited).
    get rcptTargets() {
      const view = targetsView(a);
      if (view && !run.targetReaders.includes(p.name)) run.targetReaders.push(p.name);
      return view;
    },
    message: tx?.message,
    verdict: tx?.verdict,
    capabilities: a.capabilities,
    command: a.command,
    findings: tx?.findings ?? [],
    services: a.services,
    state: tx ? slot(tx.pluginState, p.name) : {},
    connectionState: slot(a.session.pluginState, p.name),
    addFinding(symbol: string, score: number, detail?: string) {
      refuseMisuse(p.name, 'addFinding', symbol, findingSymbolProblem(symbol)
        ?? (typeof score === 'number' ? undefined : 'the score is not a number'));
      if (!lease.live('addFinding')) return;
      // NaN says nothing; an infinite score is a plugin's certainty, kept as a score no threshold can outweigh.
      if (Number.isNaN(score)) score = 0;
      else if (!Number.isFinite(score)) score = Math.sign(score) * CERTAIN_SCORE;
      const finding = { symbol, score, detail, plugin: p.name };
      // Outside a transaction (connect, HELO) a finding can only go with the run's refusal: see settleFindings, which
      // has nothing to settle at DATA, where every finding is the transaction's.
      if (a.hook !== 'data') run.recorded.push(finding);
      tx?.findings.push(finding);
    },
    addHeader(name: string, value: string) {
      refuseMisuse(p.name, 'addHeader', name, addedFieldNameProblem(name) ?? (typeof value === 'string' ? undefined : 'the value is not a string'));
      if (lease.live('addHeader')) tx?.addHeaders.push([name, value]);
    },
    removeHeader(name: string) {
      refuseMisuse(p.name, 'removeHeader', name, typeof name === 'string' && FIELD_NAME.test(name) ? undefined : 'a field name is printable ASCII without spaces or \':\'');
      if (lease.live('removeHeader')) tx?.removeHeaders.add(name.toLowerCase());
    },
    discardRecipient(address: string, reason: string) {
      if (!lease.live('discardRecipient')) return;
      const lower = address.toLowerCase();
      if (a.hook !== 'data' || !tx?.recipients.some((r) => r.address.toLowerCase() === lower)) {
        a.log.warn('discardRecipient ignored: only for a recipient of the message, in the data hook', { plugin: p.name, hook: a.hook, to: [address] });
        return;
      }
      if (!tx.discards.has(lower)) tx.discards.set(lower, { plugin: p.name, reason });
    },
    redirectRecipient(targets: string[], reason: string) {
      if (!lease.live('redirectRecipient')) return;
      if (a.hook !== 'rcptTo' || !tx || !a.rcpt) {
        a.log.warn('redirectRecipient ignored: only for the recipient being checked, in the rcptTo hook', { plugin: p.name, hook: a.hook });
        return;
      }
      const original = a.rcpt.address;
      if (!Array.isArray(targets) || targets.length === 0) {
        a.log.warn('redirectRecipient refused: no target (discardRecipient in data drops a recipient)', { plugin: p.name, to: [original] });
        return;
      }
      const parsed: Address[] = [];
      for (const t of targets) {
        const r = pluginRecipient(t, tx, a.services);
        if (typeof r === 'string') {
          a.log.warn('redirectRecipient refused: invalid target', { plugin: p.name, to: [original], target: String(t).slice(0, 300), why: r });
          return;
        }
        parsed.push(r);
      }
      // Two plugins rewriting one recipient would silently undo each other; the first one's answer stands.
      if (tx.redirect) {
        a.log.warn('redirectRecipient ignored: the recipient was already redirected in this RCPT', { plugin: p.name, to: [original], redirected_by: tx.redirect.plugin });
        return;
      }
      tx.redirect = { targets: parsed, plugin: p.name, reason: String(reason) };
      warnOrderOnce(run, p.name, a.log);
    },
    addRecipient(address: string, reason: string) {
      if (!lease.live('addRecipient')) return;
      const shown = String(address).slice(0, 300);
      if (a.hook !== 'data' || !tx?.message || !a.copies) {
        a.log.warn('addRecipient ignored: only in the data hook', { plugin: p.name, hook: a.hook, to: [shown] });
        return;
      }
      const r = pluginRecipient(address, tx, a.services);
      if (typeof r === 'string') {
        a.log.warn('addRecipient refused: invalid address', { plugin: p.name, to: [shown], why: r });
        return;
      }
      const key = r.address.toLowerCase();
      // An archive rule meets mail already addressed to the archive: one delivery, and nothing to warn about.
      if (tx.copies.has(key) || tx.recipients.some((x) => x.address.toLowerCase() === key)) {
        a.log.debug('addRecipient: already a recipient', { plugin: p.name, to: [r.address] });
        return;
      }
      if (a.copies.isBlocked(r)) {
        a.log.warn('addRecipient refused by access.blocked_recipients', { plugin: p.name, to: [r.address] });
        return;
      }
      if (tx.recipients.length + tx.copies.size >= a.copies.maxRecipients) {
        a.log.warn('addRecipient refused: limits.max_recipients reached', { plugin: p.name, to: [r.address], max: a.copies.maxRecipients });
        return;
      }
      // NOTIFY=NEVER (what Postfix gives always_bcc): a failed copy must not tell the sender of a hidden recipient.
      tx.copies.set(key, { rcpt: { ...r, params: { NOTIFY: 'NEVER' } }, plugin: p.name, reason: String(reason) });
    },
    setVerifiedClientName(name: string) {
      if (!lease.live('setVerifiedClientName')) return false;
      const shown = String(name).slice(0, 300);
      if (!VERIFIED_NAME_HOOKS.has(a.hook)) {
        a.log.warn('setVerifiedClientName ignored: only in connect, helo and mailFrom', { plugin: p.name, hook: a.hook, client_name: shown });
        return false;
      }
      const host = verifiedHostName(name);
      if (!host) {
        a.log.warn('setVerifiedClientName ignored: not a host name', { plugin: p.name, client_name: shown });
        return false;
      }
      a.session.remote.verifiedName = host;
      return true;
    },
    async rewriteMessage(raw: Buffer) {
      if (!tx?.message) throw new Error('rewriteMessage is only available in the data hook');
      // A JavaScript plugin may hand over a string, whose indexOf and length would not count bytes.
      const given: unknown = raw;
      if (!(given instanceof Uint8Array)) return refuseMisuse(p.name, 'rewriteMessage', typeof given, 'the message is not a Buffer');
      const bytes = Buffer.isBuffer(given) ? given : Buffer.from(given.buffer, given.byteOffset, given.byteLength);
      // Thrown, not ignored: the handler learns that its work is void and stops there.
      if (!lease.live('rewriteMessage')) throw new Error(`${p.name} timed out; the message was answered without its rewrite`);
      await tx.message.replace(bytes);
    },
  };
}

/**
 * How long a call of `hook` may take: the entry's `timeout`, or more when the plugin's own limits need it, within what
 * a Node timer can wait (a sum of plugin limits past it would fire at once, and every call would get the 451).
 */
function timeoutOf(p: LoadedPlugin, hook: HookName): number {
  return Math.min(TIMER_MAX_MS, Math.max(p.timeout, p.instance.hookTimeout?.(hook) ?? 0));
}

async function callWithTimeout(chain: readonly LoadedPlugin[], p: LoadedPlugin, ctx: HookContext, lease: Lease): Promise<Outcome | void> {
  const handler = p.instance.hooks[ctx.hook]!;
  let timer: NodeJS.Timeout | undefined;
  const running = Promise.resolve().then(() => runNoted(p.name, ctx.hook, () => handler(ctx)));
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      lease.expired = true;
      // The handler goes on after its run answered: its chain stays in use (a reload must not close it) until it ends.
      const release = holdChain(chain);
      running.then(release, release);
      reject(new TimeoutError());
    }, timeoutOf(p, ctx.hook));
  });
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `hook` for every plugin that has it; the first outcome other than continue ends the run. */
export async function runHook(plugins: readonly LoadedPlugin[], a: RunArgs): Promise<HookResult> {
  // A `moat check` run: the session carries ctx.session.check, and what the chain answered goes to its report.
  const check = checkOf(a.services);
  if (check && !check.begin(a.hook, a.session, a.tx)) return CONTINUE;
  const release = holdChain(plugins);
  try {
    const result = await runChain(plugins, a);
    check?.end(a.hook, a.rcpt?.address, result.outcome, result.plugin);
    return result;
  } finally {
    release();
  }
}

const REFUSING: ReadonlySet<Outcome['action']> = new Set(['reject', 'tempfail', 'disconnect']);

/**
 * A refusal before DATA takes the findings its plugin recorded in the run: they are the refusal's evidence (a
 * blocklist's listing at RCPT), counted with it, and leave the transaction, so that a refused recipient's listing
 * does not score the message of the recipients that were accepted. Anything else recorded outside a transaction
 * is lost, as ever, and said.
 */
function settleFindings(r: HookResult, run: ChainRun, a: RunArgs): HookResult {
  if (!run.recorded.length) return r;
  if (a.hook !== 'data' && REFUSING.has(r.outcome.action)) {
    const own = run.recorded.filter((f) => f.plugin === r.plugin);
    for (const f of own) {
      const at = a.tx ? a.tx.findings.indexOf(f) : -1;
      if (at >= 0) a.tx!.findings.splice(at, 1);
    }
    return { ...r, findings: own };
  }
  if (!a.tx) for (const f of run.recorded) a.log.warn('finding outside a transaction ignored', { plugin: f.plugin, symbol: f.symbol });
  return r;
}

async function runChain(plugins: readonly LoadedPlugin[], a: RunArgs): Promise<HookResult> {
  const run: ChainRun = { chain: plugins, targetReaders: [], recorded: [] };
  return settleFindings(await runPlugins(plugins, a, run), run, a);
}

async function runPlugins(plugins: readonly LoadedPlugin[], a: RunArgs, run: ChainRun): Promise<HookResult> {
  const observing = OBSERVING_HOOKS.has(a.hook);
  for (const p of plugins) {
    if (!p.instance.hooks[a.hook]) continue;
    let out: Outcome | void;
    try {
      const lease = new Lease(a.log, p.name, a.hook);
      out = await callWithTimeout(plugins, p, makeContext(p, a, lease, run), lease);
    } catch (err) {
      countPluginError(p.name, a.hook, err instanceof TimeoutError ? 'timeout' : 'threw');
      if (observing) { a.log.error('plugin failed in an observing hook', { plugin: p.name, hook: a.hook, error: String((err as Error)?.message ?? err) }); continue; }
      if (err instanceof TimeoutError) {
        a.log.error('plugin timed out', { plugin: p.name, hook: a.hook, timeout_ms: timeoutOf(p, a.hook) });
        return { outcome: { action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Temporary local problem, please try again later' }, plugin: p.name };
      }
      a.log.error('plugin threw', { plugin: p.name, hook: a.hook, error: String((err as Error)?.stack ?? err) });
      return { outcome: { action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Temporary local problem, please try again later' }, plugin: p.name };
    }
    if (observing || out === undefined) continue;
    const problem = outcomeProblem(a.hook, out);
    if (problem) {
      countPluginError(p.name, a.hook, 'invalid_outcome');
      a.log.warn('plugin returned an invalid outcome', { plugin: p.name, hook: a.hook, problem });
      return { outcome: { action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Temporary local problem, please try again later' }, plugin: p.name };
    }
    if (out.action !== 'continue') return { outcome: out, plugin: p.name };
  }
  return CONTINUE;
}
