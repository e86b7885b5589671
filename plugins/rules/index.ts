// Admin-defined filter rules (criteria → actions), after the scoring plugins: they see every finding so far.
import { definePlugin, finalActionOutcome, outcome, taggedSubject, type HookContext, type Outcome } from '../../core/index.ts';
import { headerValueText } from '../../core/text/header-value.ts';
import { configSchema, type RulesConfig } from './config.ts';
import { compileRuleSet, type RuleSet } from './rule-set.ts';
import { checkListFiles, ListFiles } from './list-files.ts';
import type { RuleList } from './lists.ts';
import { gatherFacts } from './facts.ts';
import { RegexThread } from './regex-thread.ts';
import { runRules, type HeaderEdits } from './evaluate.ts';
import type { FinalAction } from './actions.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';
import { clientBlock } from '../../core/net/client-prefix.ts';
import { checkMimeStructure, MIME_INCOMPLETE, MIME_TOO_DEEP } from './mime-check.ts';
import { chainWarnings } from './chain-warnings.ts';
import { applyContentEdits } from './content-edits.ts';
import type { ChainView, SymbolListing } from '../../core/plugin/define.ts';
import { keepNotices, sendNotices } from './notices.ts';
import { NoticeMarker } from './notice-marker.ts';
import { NoticeRate } from './notice-rate.ts';

async function check(cfg: RulesConfig, set: RuleSet, lists: ReadonlyMap<string, RuleList>, thread: RegexThread, ctx: HookContext, marker?: NoticeMarker): Promise<Outcome | void> {
  if (!ctx.message) return;
  const checksMime = cfg.on_mime_incomplete !== 'off';
  if (set.rules.length === 0 && !checksMime) return;
  const facts = await gatherFacts(ctx, set.needsParsed || checksMime, { maxHeaderLength: cfg.max_header_length, maxBodyLength: cfg.max_body_length });
  // Before the rules: a whitelist rule's `stop` must not end the check of a structure no rule could see into.
  const unchecked = checkMimeStructure(cfg, facts, ctx);
  if (unchecked) return unchecked;
  if (set.rules.length === 0) return;
  // Envelope and header tests first, the body last: at a deadline, the cheap answers are the ones kept.
  const tests = set.regexes.map((r) => ({ id: r.id, inputs: r.inputs(facts), ...(r.each ? { each: true } : {}) })).sort((a, b) => total(a.inputs) - total(b.inputs));
  // By address, an IPv6 client by its /64: a host picks any address of its /64 at will.
  const client = clientBlock(facts.ip, { v4: 32, v6: 64 });
  const { results, hits, timedOut, waited, slowClient } = await thread.run(tests, client);
  // slow_client: it waited behind other senders' mail, a message of its client having run to the deadline lately.
  const behind = slowClient ? { slow_client: true } : {};
  if (waited) ctx.log.warn('rules: no regex thread was free within max_wait', { max_wait_ms: cfg.max_wait, asked: tests.length, ...behind });
  else if (timedOut) ctx.log.warn('rules: regexes did not finish in time', { timeout_ms: cfg.regex_timeout, answered: results.size, asked: tests.length, ...behind });
  const why = waited ? 'no regex thread was free within max_wait' : 'its regexes did not finish in time';
  const skipped: string[] = [];
  const regexEach = new Map(tests.filter((t) => hits?.has(t.id)).map((t) => [t.id, new Set(hits!.get(t.id)!.map((i) => t.inputs[i]))]));
  const result = runRules(set.rules, { facts, regex: results, regexEach, lists, timeZone: cfg.time_zone }, {
    addFinding: (symbol, score, detail) => ctx.addFinding(symbol, score, detail),
    addRecipient: (address, reason) => ctx.addRecipient(address, reason),
    matched: (rule) => ctx.log.info('rule matched', { rule: rule.name, actions: rule.actions.names, ...(facts.bodyTruncated ? { body_truncated: true } : {}) }),
    skipped: (rule) => {
      skipped.push(rule.name);
      ctx.log.warn(`rule skipped: ${why}`, { rule: rule.name, on_timeout: cfg.on_timeout });
      ctx.addFinding('RULES_TIMEOUT', 0, `rule ${rule.name}: ${why}`);
    },
  });
  // A rule not judged might have refused the message, or whitelisted it ahead of a later refusal: under a burst of
  // hostile input, skipping it let mail past the admin's reject rules. Deferred, the message is judged on its retry.
  if (skipped.length && cfg.on_timeout === 'tempfail') {
    return outcome.tempfail('Message filter temporarily unavailable, try again later', { code: 451, enhanced: '4.3.0' });
  }
  // Told once the verdict is known (afterVerdict); never of a notice of ours that came back in, so none can loop.
  if (result.notices.length) {
    if (marker?.marks(ctx.message.headers)) ctx.log.info('rules: no notice about a notice of the gateway\'s own', { rules: result.notices.map((n) => n.rule.name) });
    else keepNotices(ctx, facts, result.notices);
  }
  // Spam traps among the recipients: dropped, while the verdict and a final action below are for the others.
  for (const d of result.discarded) ctx.discardRecipient(d.address, `rule ${d.rule.name}`);
  applyHeaderEdits(ctx, result.headers, result.subjectTags);
  const final = result.final;
  // Edits of a message that is delivered, or held (a release delivers it as edited); a removal that cannot be done
  // safely holds it instead.
  if (result.contentEdits.length && (!final || final.action.kind === 'accept' || final.action.kind === 'quarantine')) {
    const held = await applyContentEdits(ctx, result.contentEdits);
    if (held && final?.action.kind !== 'quarantine') return held;
  }
  if (!final) return;
  // The verdict delivers it whatever the score (core/verdict/verdict.ts says what still outranks it).
  if (final.action.kind === 'accept') return { action: 'accept', reason: `rule ${final.rule.name}` };
  if (final.action.kind === 'discard' && final.recipients) {
    for (const rcpt of final.recipients) ctx.discardRecipient(rcpt, `rule ${final.rule.name}`);
    return;
  }
  return finalActionOutcome(ctx, withNote(final.action, final.rule.description), `rule ${final.rule.name}`);
}

/**
 * A bare `quarantine` says why with the rule's description: the reason is what the recipient's digest and page show
 * (core/quarantine/summary.ts), and "rule hold-invoice" explains nothing to them. One line, as a written reason is.
 */
function withNote<A extends FinalAction>(action: A, description: string | undefined): A {
  const note = description?.replace(/\s+/g, ' ').trim();
  return action.kind === 'quarantine' && !action.text && note ? { ...action, text: note } : action;
}

/**
 * The header changes of the matched rules, then their subject tags on the Subject the message leaves with (one a rule
 * put in place of the original, else the original). A tag the Subject already carries is not added again: a reply
 * to a tagged message would otherwise read `[URGENT] Re: [URGENT] …`.
 */
function applyHeaderEdits(ctx: HookContext, edits: HeaderEdits, tags: string[]): void {
  const replaced = edits.added.find(([n]) => n.toLowerCase() === 'subject');
  const subject = replaced ? replaced[1] : edits.removed.includes('subject') ? '' : (ctx.message!.headers.first('Subject')?.trim() ?? '');
  // Read as the Subject's readers read it: a raw UTF-8 Subject (RFC 6532) carries a non-ASCII tag as text.
  const newTags = tags.filter((t) => !carriesTag(decodeWords(headerValueText(subject)), t));
  let added = edits.added;
  if (newTags.length) {
    const tagged: [string, string] = ['Subject', taggedSubject(newTags.join(' '), subject)];
    added = replaced ? added.map((h) => (h === replaced ? tagged : h)) : [...added, tagged];
    if (!edits.removed.includes('subject')) edits.removed.push('subject');
  }
  for (const name of edits.removed) ctx.removeHeader(name);
  for (const [name, value] of added) ctx.addHeader(name, value);
}

/** Whether `tag` stands in `subject` as a word of its own (case ignored): `[URGENT]` in `Re: [URGENT] call me`. */
export function carriesTag(subject: string, tag: string): boolean {
  const s = subject.toLowerCase();
  const t = tag.toLowerCase();
  for (let i = s.indexOf(t); i >= 0; i = s.indexOf(t, i + 1)) {
    const before = i === 0 ? ' ' : s[i - 1];
    const after = i + t.length >= s.length ? ' ' : s[i + t.length];
    if (/[\s:]/.test(before) && /\s/.test(after)) return true;
  }
  return false;
}

const total = (inputs: string[]) => inputs.reduce((n, s) => n + s.length, 0);

/**
 * What the rules record themselves, as the rules before the `beforeRule`-th see it: the score findings of those rules,
 * RULES_TIMEOUT, and the MIME findings when they let the rules run (`on_mime_incomplete: score`).
 */
function ownSymbols(cfg: RulesConfig, set: RuleSet, beforeRule = set.rules.length): SymbolListing {
  const scored = set.rules.slice(0, beforeRule).filter((r) => r.actions.score !== undefined).map((r) => r.symbol);
  return { symbols: [...scored, 'RULES_TIMEOUT', ...(cfg.on_mime_incomplete === 'score' ? [MIME_INCOMPLETE, MIME_TOO_DEEP] : [])] };
}

/** The chain warnings of a config whose rules compile (one that does not is refused, and said so, elsewhere). */
function warningsFor(cfg: RulesConfig, chain: ChainView): string[] {
  const issues: Array<{ path: string; message: string }> = [];
  const set = compileRuleSet(cfg, '', issues);
  return issues.length ? [] : chainWarnings(set, chain, (rule) => ownSymbols(cfg, set, rule));
}

export default definePlugin({
  name: 'rules',
  description: 'Admin-defined filter rules: criteria on envelope, headers, body, attachments, findings and time; actions score, headers, subject tag, copy to, remove attachments, disclaimer, notify, accept, quarantine, reject, tempfail, discard',
  configSchema,
  symbols: {
    'RULE_<NAME>': 'A rule with a score action matched (its score, negative for a whitelist)',
    [MIME_INCOMPLETE]: 'The MIME structure was not walked to its end (a parser limit, an attached message that could not be read): parts no check saw (on_mime_incomplete)',
    [MIME_TOO_DEEP]: 'MIME parts nested deeper than max_mime_depth (on_mime_incomplete)',
    RULES_TIMEOUT: 'A rule was not judged: its regexes did not finish within regex_timeout, or found no free thread within max_wait (score 0; on_timeout: tempfail defers the message)',
  },
  emits: (cfg: RulesConfig) => ownSymbols(cfg, compileRuleSet(cfg, '', [])),
  check: (cfg: RulesConfig, at) => {
    if (at.chain && at.warn) for (const w of warningsFor(cfg, at.chain)) at.warn(w);
    return checkListFiles(cfg.lists, at.configDir, compileRuleSet(cfg, '', []).listKinds, at.chain ? `plugins[${at.chain.index}]` : '', at.warn);
  },
  // A call may wait max_wait for a free regex thread, then run for regex_timeout.
  neededTimeout: (cfg: RulesConfig) => ({ ms: cfg.max_wait + cfg.regex_timeout, why: 'max_wait + regex_timeout' }),
  create: (cfg: RulesConfig, setup) => {
    const issues: Array<{ path: string; message: string }> = [];
    const set = compileRuleSet(cfg, '', issues);
    if (issues.length) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    const lists = new ListFiles(cfg.lists, setup.configDir, set.listKinds, { log: setup.log, checkMs: cfg.list_check, at: setup.chain ? `plugins[${setup.chain.index}]` : '' });
    // Said before the first message: a rule that can never match is otherwise silent.
    if (setup.chain) for (const w of chainWarnings(set, setup.chain, (rule) => ownSymbols(cfg, set, rule))) setup.log.warn(w);
    const thread = new RegexThread(set.regexes.map(({ id, source, flags }) => ({ id, source, flags })), cfg.regex_timeout, cfg.max_wait);
    const notifies = set.rules.some((r) => r.actions.notify);
    // Only where the gateway can queue mail of its own: its data_dir keeps the key (a unit test has none).
    const marker = notifies && setup.services.ownMail ? NoticeMarker.forDataDir(setup.services.dataDir) : undefined;
    const rate = new NoticeRate(cfg.notify_limit, cfg.notify_window, (rule, suppressed, windowMs) => {
      setup.log.warn('rules: notices held back by notify_limit', { rule, suppressed, notify_limit: cfg.notify_limit, window_ms: windowMs });
    });
    setup.log.info('rules loaded', { rules: set.rules.length, regexes: set.regexes.length, lists: lists.sizes() });
    lists.watch();
    return {
      hooks: {
        data: (ctx) => check(cfg, set, lists.current, thread, ctx, marker),
        ...(notifies ? { afterVerdict: (ctx: HookContext) => sendNotices(ctx, { rate, marker, metrics: setup.metrics }) } : {}),
      },
      close: async () => { rate.close(); await Promise.all([lists.close(), thread.close()]); },
    };
  },
});
