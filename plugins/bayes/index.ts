// Bayesian spam filter: scores each message against a trained dictionary, records a band finding
// (BAYES_SPAM_99 …) and `X-Mailmoat-Bayes`, and keeps learning from honeypots, ham addresses and certain verdicts.
//
// Tokens come from our own MIME reader on the raw message, not from the shared parsed view, so a message
// yields exactly the tokens `moat bayes create` learned from the same mail on disk.
import path from 'node:path';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { definePlugin, outcome, type HookContext, type Issue, type Logger, type MessageView, type Outcome, type RecipientFeedback, type Verdict } from '../../core/index.ts';
import { configSchema, dictionaryPath, droppedBandWarnings, PROBABILITY_DECIMALS, tokenizerOptions, type Band, type BayesConfig } from './config.ts';
import { DictionaryInUse, type MessageDecision } from './dictionary-in-use.ts';
import { RecipientDictionaries } from './recipient-dictionaries.ts';
import { addressMatcher, lessonFields, recipientLesson, scoreWithout, settled, verdictLesson, type BalanceRule, type Lesson } from './auto-train.ts';
import { tokenize, type TokenCounts } from './engine/tokenizer.ts';
import { classify, type ScoringOptions } from './engine/classify.ts';
import { BayesFilter } from './engine/filter.ts';
import type { LayeredCounts } from './engine/layered-counts.ts';
import { withRecipientScore } from './engine/recipient-score.ts';
import { loadDictionary } from './engine/persist.ts';
import { formatOf } from './engine/formats.ts';
import { deliveryReport, isReport, type DeliveryReport } from './delivery-report.ts';
import { REPORT_SYMBOL, reportBand, reportHeader, reportLessonRefusal, reportNote } from './report-judgement.ts';

export const HEADER = 'X-Mailmoat-Bayes';
const PLUGIN = 'bayes';

/** The probability as the header and the finding show it: a plain number with four decimals. */
export function shownProbability(p: number): string {
  return p.toFixed(PROBABILITY_DECIMALS);
}

/** The band a probability falls in: the one with the highest `min` not above it. */
export function bandOf(p: number, bands: readonly Band[]): Band | undefined {
  let best: Band | undefined;
  for (const b of bands) if (p >= b.min && (!best || b.min > best.min)) best = b;
  return best;
}

async function readHead(message: MessageView, maxBytes: number): Promise<Buffer> {
  if (message.size <= maxBytes) return message.raw();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of message.stream()) {
    const b = chunk as Buffer;
    chunks.push(b);
    n += b.length;
    if (n >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes);
}

/**
 * Why an existing dictionary `file` cannot be used, or null when it can or does not exist: read and parsed as the
 * start reads it (a folder, a file that is no dictionary, one in a byte model's kind this version cannot read), since a
 * permission check alone says yes to root and to a folder. A file with malformed lines (cut short, or edited by hand)
 * is refused too: the gateway scores with the lines it reads, but never writes over such a file, so every lesson it
 * learns would wait in memory and be lost at stop; check-config says so before that happens.
 */
async function unreadable(file: string): Promise<string | null> {
  const malformed = { count: 0, first: 0 };
  try {
    await loadDictionary(file, malformed);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : `cannot be read (${code ?? (e as Error).message})`;
  }
  if (!malformed.count) return null;
  const [one, many] = formatOf(file) === 'xml' ? ['entry', 'entries'] : ['line', 'lines'];
  return `has ${malformed.count} malformed ${malformed.count === 1 ? one : many} (the first is ${one} ${malformed.first}): the gateway would score with the rest `
    + `but could not save what it learns into it; rewrite it without them with \`moat bayes import ${file} ${file}\`, or remove them`;
}

/**
 * For `moat check-config`: what `create` would refuse of the files the options name, read but never written. The
 * dictionaries, when they exist, must be readable; when the shared one does not, a seed named in the config must be;
 * and a recipient dictionary cannot be the shared one's file.
 */
async function checkFiles(cfg: BayesConfig, at: { configDir: string; dataDir: string }): Promise<Issue[]> {
  const file = dictionaryPath(cfg, at);
  const issues: Issue[] = [];
  const exists = await fsp.access(file).then(() => true, () => false);
  if (!exists && cfg.seed && cfg.seed !== 'none') {
    const seed = path.resolve(at.configDir, cfg.seed);
    const seedWhy = await fsp.access(seed, fsConstants.R_OK).then(() => unreadable(seed), (e: NodeJS.ErrnoException) => `cannot be read (${e.code ?? e.message})`);
    if (seedWhy) issues.push({ path: 'seed', message: `the seed ${seed} ${seedWhy}, so the dictionary ${file} cannot be made from it` });
  }
  const why = await unreadable(file);
  if (why) issues.push({ path: cfg.dictionary ? 'dictionary' : '', message: `the dictionary ${file} ${why}` });
  for (const [i, entry] of cfg.recipient_dictionaries.entries()) {
    const own = path.resolve(at.configDir, entry.dictionary);
    const at_ = `recipient_dictionaries[${i}].dictionary`;
    if (own === file) issues.push({ path: at_, message: `${own} is the shared dictionary: a recipient dictionary needs a file of its own` });
    const ownWhy = await unreadable(own);
    if (ownWhy) issues.push({ path: at_, message: `the dictionary ${own} ${ownWhy}` });
  }
  return issues;
}

export default definePlugin<BayesConfig>({
  name: PLUGIN,
  description: 'Bayesian spam probability from a trained token dictionary, with auto-training',
  configSchema,
  symbols: {
    BAYES_SPAM_99: 'Spam probability ≥ 0.99',
    BAYES_SPAM_90: 'Spam probability 0.90–0.99',
    BAYES_SPAM_70: 'Spam probability 0.70–0.90',
    BAYES_UNSURE: 'Spam probability 0.10–0.70: no opinion',
    BAYES_HAM_90: 'Spam probability 0.01–0.10',
    BAYES_HAM_99: 'Spam probability below 0.01',
    BAYES_LESSON: 'A recipient is a honeypot or ham address (detail: spam or ham, and which): the message is learned after the verdict unless deferred, as the balance rule allows; the log line "bayes learned" or "bayes not learned" says which',
    [REPORT_SYMBOL]: 'A delivery report from the null sender, judged by the message it returns (detail: its form, the returned message\'s probability and band, or that it returns none); score 0',
  },
  // The bands name the symbols.
  emits: (cfg) => ({ symbols: [...new Set(cfg.bands.map((b) => b.symbol)), 'BAYES_LESSON', ...(cfg.delivery_reports === 'returned' ? [REPORT_SYMBOL] : [])] }),
  check: (cfg, at) => {
    for (const w of droppedBandWarnings(cfg, at.chain ? `plugins[${at.chain.index}]` : '')) at.warn?.(w);
    return checkFiles(cfg, at);
  },
  async create(cfg, setup) {
    for (const w of droppedBandWarnings(cfg, setup.chain ? `plugins[${setup.chain.index}]` : '')) setup.log.warn(w);
    const file = dictionaryPath(cfg, { configDir: setup.configDir, dataDir: setup.services.dataDir });
    const shared = await DictionaryInUse.open({ file, seed: cfg.seed, namespace: cfg.share_namespace }, cfg, setup);
    const own = await RecipientDictionaries.open(cfg, setup, file);
    const tokOpts = tokenizerOptions(cfg);
    const scoring: ScoringOptions = { mode: cfg.mode, robs: cfg.robs, robx: cfg.robx, minDev: cfg.min_dev, maxTokens: cfg.max_tokens, minTokens: cfg.min_tokens, oddsWeight: cfg.odds_weight, linearWeight: cfg.linear_weight, byteGramWeight: cfg.byte_gram_weight, logitCap: cfg.logit_cap };
    // Scores by token hashes when nothing is learned from the message (no token strings needed): see engine/hashed-bag.ts.
    const scorer = new BayesFilter(undefined, tokOpts, scoring);
    const recipientsLesson = recipientLesson({ honeypots: cfg.honeypots, hamAddresses: cfg.ham_addresses, delimiters: cfg.recipient_delimiter });
    const isHoneypot = addressMatcher(cfg.honeypots, cfg.recipient_delimiter);
    const balanceRule: BalanceRule = { balance: cfg.balance, slack: cfg.balance_slack };
    /** A recipient's own judgement is learned whatever the totals (`fromRecipient`). */
    const EXPLICIT_FEEDBACK: BalanceRule = { balance: false, slack: 0 };
    /** Lessons being learned: `close` waits for them, so a stopping gateway does not drop them. */
    const learning = new Set<Promise<void>>();

    /**
     * Learns a lesson into one dictionary and says so in `log` (the message's, which names its queue id), with
     * `about` (who taught it). `qid`: a quarantined message, whose recipients may judge it later, so its lesson is
     * recorded and an earlier one of the other class forgotten first (DictionaryInUse.learnMessage). Never throws.
     */
    async function learnInto(d: DictionaryInUse, log: Logger, tokens: TokenCounts, lesson: Lesson, qid: string | undefined, about: Record<string, unknown> = {}, rule = balanceRule): Promise<void> {
      const fields = { ...lessonFields(lesson), ...about, ...(d.label ? { recipients: d.label } : {}) };
      let decision: MessageDecision;
      try {
        decision = await d.learnMessage(qid, tokens, lesson.spam, rule);
      } catch (e) {
        // Learning is optional work done after the sender had its answer: a store that fails costs a lesson, never the mail.
        log.warn('bayes could not learn', { ...fields, error: String((e as Error)?.message ?? e) });
        return;
      }
      if ('already' in decision) {
        log.info('bayes not learned', { ...fields, reason: `the message was learned as ${decision.already} already` });
        return;
      }
      const other = lesson.spam ? 'ham' : 'spam';
      if (decision.forgot) log.info(`bayes forgot ${decision.forgot} lesson`, { ...fields, class: decision.forgot, tokens: tokens.size, because: lesson.why });
      if (decision.notForgotten) log.warn(`bayes could not forget ${other} lesson`, { ...fields, class: other, reason: decision.notForgotten, detail: `the message stays counted as ${other} too` });
      const learned = decision.forgot ? `bayes relearned as ${lessonFields(lesson).class}` : 'bayes learned';
      if (decision.learned) log.info(learned, { ...fields, tokens: tokens.size });
      else log.info('bayes not learned', { ...fields, reason: `balance rule (${decision.nspam} spam, ${decision.nham} ham learned)` });
    }

    /** Learns a lesson into the shared dictionary and into the recipients' own, each under its own balance rule. */
    async function learn(ctx: HookContext, tokens: TokenCounts, lesson: Lesson, qid: string | undefined): Promise<void> {
      const mine = ctx.state.ownDictionary as DictionaryInUse | undefined;
      await Promise.all([learnInto(shared, ctx.log, tokens, lesson, qid), ...(mine ? [learnInto(mine, ctx.log, tokens, lesson, qid)] : [])]);
    }

    let closing = false;
    /**
     * A recipient's judgement on the quarantine pages (train-on-error, as Rspamd's and SpamAssassin's user feedback):
     * into their own dictionary, and with `all` the shared one too. The balance rule is not asked: it keeps
     * auto-training from tilting a dictionary, and a correction is no auto-training. Nearly every dictionary holds
     * more ham than spam, so under the rule a release (ham) was never learned, on just the mail it misjudged.
     */
    async function fromRecipient(event: RecipientFeedback): Promise<void> {
      const lesson: Lesson = event.kind === 'spam' ? { spam: true, why: 'blocked by the recipient' } : { spam: false, why: 'released by the recipient' };
      const log = setup.log.child({ qid: event.queueId });
      const about = { to: event.recipient };
      if (closing) { log.info('bayes not learned', { ...lessonFields(lesson), ...about, reason: 'the plugin is stopping' }); return; }
      const mine = own.of([event.recipient]);
      const into = [...(mine instanceof DictionaryInUse ? [mine] : []), ...(cfg.learn_from_recipients === 'all' ? [shared] : [])];
      if (!into.length) {
        log.info('bayes not learned', { ...lessonFields(lesson), ...about, reason: 'the recipient has no recipient dictionary (learn_from_recipients: own)' });
        return;
      }
      // The bytes `data` reads of a message: the same tokens as when it arrived.
      const tokens = tokenize(event.raw.subarray(0, cfg.max_bytes), tokOpts);
      await Promise.all(into.map((d) => learnInto(d, log, tokens, lesson, event.queueId, about, EXPLICIT_FEEDBACK)));
    }

    /** Holds `work` among the lessons being learned until it ends. */
    function track(work: Promise<void>): Promise<void> {
      learning.add(work);
      const done = () => { learning.delete(work); };
      work.then(done, done);
      return work;
    }

    /** The lesson of the recipients (kept by `data`), else of a certain verdict when `learn_from_verdict` is on. */
    function lessonOf(ctx: HookContext, verdict: Verdict): Lesson | null {
      const fromRecipients = ctx.state.lesson as Lesson | undefined;
      if (fromRecipients) return fromRecipients;
      if (!cfg.learn_from_verdict) return null;
      return verdictLesson(scoreWithout(verdict.findings, PLUGIN), cfg.learn_spam_score, cfg.learn_ham_score);
    }

    /** The message's first `max_bytes`, read once per message for the tokens and the byte model alike. */
    async function headOf(ctx: HookContext, message: MessageView): Promise<Buffer> {
      if (!ctx.state.head) ctx.state.head = await readHead(message, cfg.max_bytes);
      return ctx.state.head as Buffer;
    }

    /**
     * Keeps for the other hooks the delivery report a message from the null sender is (`ctx.state.report`): none for
     * any other message, nor with `delivery_reports: whole`.
     */
    async function noteReport(ctx: HookContext, message: MessageView): Promise<void> {
      if (cfg.delivery_reports !== 'returned' || ctx.mailFrom?.address !== '') return;
      const r = deliveryReport(await headOf(ctx, message));
      if (isReport(r)) ctx.state.report = r;
      else ctx.log.debug('bayes scores a message from the null sender whole', { reason: r.notReport });
    }

    /** What is scored and learned of the message: the message a delivery report returns, else its first `max_bytes`. */
    async function judgedOf(ctx: HookContext, message: MessageView): Promise<Buffer> {
      const returned = (ctx.state.report as DeliveryReport | undefined)?.returned;
      return returned && returned.kind !== 'nothing' ? returned.bytes : headOf(ctx, message);
    }

    async function tokensOf(ctx: HookContext, message: MessageView): Promise<TokenCounts> {
      if (ctx.state.tokens) return ctx.state.tokens as TokenCounts;
      const t = tokenize(await judgedOf(ctx, message), tokOpts);
      ctx.state.tokens = t;
      return t;
    }

    /**
     * Scores the message against the shared dictionary, and against its recipients' own when they have one that has
     * learned enough: a band finding and the probability header.
     */
    async function scoreMessage(ctx: HookContext, message: MessageView, tokens: TokenCounts | undefined): Promise<void> {
      const counts = shared.counts();
      if (counts.nspam < cfg.min_learned || counts.nham < cfg.min_learned) {
        ctx.log.debug('bayes not scoring: dictionary too small', { spam: counts.nspam, ham: counts.nham, min_learned: cfg.min_learned });
        // Said in the header, so that a reader of the message (or a filter behind us) does not take a missing
        // probability for a plugin that was off, nor a neutral number for an opinion.
        if (cfg.header) ctx.addHeader(HEADER, `none; dictionary too small: ${counts.nspam} spam and ${counts.nham} ham learned, ${cfg.min_learned} of each needed`);
        return;
      }
      const report = ctx.state.report as DeliveryReport | undefined;
      if (report?.returned.kind === 'nothing') {
        ctx.addFinding(REPORT_SYMBOL, 0, reportNote(report));
        if (cfg.header) ctx.addHeader(HEADER, reportHeader(report));
        return;
      }
      const head = await judgedOf(ctx, message);
      const scoreWith = (c: LayeredCounts) => (tokens ? classify(tokens, c, scoring, false, scorer.byteTerm(head, c)) : scorer.score(head, c));
      let s = scoreWith(counts);
      let parts = '';
      const mine = ctx.state.ownDictionary as DictionaryInUse | undefined;
      if (ctx.state.ownMixed) parts = ' shared only (recipients of different dictionaries)';
      if (mine && cfg.recipient_weight > 0) {
        const c = mine.counts();
        if (c.nspam >= cfg.min_learned && c.nham >= cfg.min_learned) {
          const o = scoreWith(c);
          parts = ` shared=${shownProbability(s.probability)} ${mine.label}=${shownProbability(o.probability)}`;
          s = withRecipientScore(s, o, cfg.recipient_weight);
        } else {
          parts = ` ${mine.label}=none (${c.nspam} spam and ${c.nham} ham learned)`;
        }
      }
      ctx.state.probability = s.probability;
      // The band is chosen by the probability as shown, so that the header and the finding never disagree
      // (0.98996 is shown as 0.9900, and is then BAYES_SPAM_99, not BAYES_SPAM_90).
      const shown = shownProbability(s.probability);
      const band = bandOf(Number(shown), cfg.bands);
      const given = report ? reportBand(band) : band;
      if (given) ctx.addFinding(given.symbol, given.score, `p=${shown} tokens=${s.used}${parts}`);
      if (report) ctx.addFinding(REPORT_SYMBOL, 0, reportNote(report, { shown, band }));
      if (cfg.header) ctx.addHeader(HEADER, report ? reportHeader(report, shown) : shown);
    }

    async function onData(ctx: HookContext): Promise<Outcome | void> {
      const message = ctx.message;
      if (!message) return;
      // A probability header that came from outside must never be mistaken for ours.
      if (message.headers.has(HEADER)) ctx.removeHeader(HEADER);
      const addresses = ctx.recipients.map((r) => r.address);
      const lesson = recipientsLesson(addresses);
      const ownOf = own.of(addresses);
      if (ownOf === 'mixed') ctx.state.ownMixed = true;
      else ctx.state.ownDictionary = ownOf;
      // A trap's mail is for learning only: relayed, it would sit in a mailbox no one reads, or bounce to a forged sender.
      if (cfg.honeypot_delivery === 'discard') {
        for (const r of ctx.recipients) if (isHoneypot(r.address)) ctx.discardRecipient(r.address, 'honeypot');
      }
      const scoreIt = !(cfg.skip_trusted && ctx.session.trusted);
      if (!scoreIt && !lesson && !cfg.learn_from_verdict) return;
      await noteReport(ctx, message);
      // Learning needs the token strings; scoring alone goes by their hashes. They are taken now, while the
      // spooled message is sure to be there (a refused one is discarded before afterVerdict runs).
      const needsTokens = !!lesson || cfg.learn_from_verdict;
      const tokens = needsTokens ? await tokensOf(ctx, message) : undefined;
      if (scoreIt) await scoreMessage(ctx, message, tokens);
      if (lesson) {
        // Only noted here: learned in afterVerdict, once the message is settled, or a deferred one would be
        // learned again at every retry.
        ctx.state.lesson = lesson;
        ctx.addFinding('BAYES_LESSON', 0, `${lessonFields(lesson).class}: ${lesson.why}`);
      }
    }

    /**
     * `split_recipients`: a recipient none of whose addresses (itself, or the targets an earlier plugin redirected it to)
     * has a dictionary (or lack of one) that a recipient of the transaction has is deferred with 452 4.5.3, as amavisd
     * splits a message by policy bank: RFC 5321 makes every client send the recipients refused so in another
     * transaction, and each message is then scored by its recipients' own dictionary. An alias whose targets span
     * dictionaries cannot be split by the client, who knows the alias alone: it is taken, and said in the log.
     */
    function onRcpt(ctx: HookContext): Outcome | void {
      const rcpt = ctx.rcpt;
      if (!rcpt || !own.any) return;
      // Mail that is not scored needs no split; a relay attempt is the core's to refuse.
      if (cfg.skip_trusted && ctx.session.trusted) return;
      if (!ctx.session.trusted && !ctx.services.isLocalDomain(rcpt.domain)) return;
      const name = (d: DictionaryInUse | undefined) => d?.label ?? 'shared only';
      const goesTo = (ctx.rcptTargets ?? [rcpt]).map((t) => t.address);
      const theirs = new Set(goesTo.map((a) => own.ofOne(a)));
      const present = new Set(ctx.recipients.map((r) => own.ofOne(r.address)));
      const first = ctx.recipients[0];
      if (first && ![...theirs].some((d) => present.has(d))) {
        ctx.log.info('bayes recipient deferred to another transaction', {
          to: [rcpt.address], ...(goesTo.length === 1 && goesTo[0] === rcpt.address ? {} : { targets: goesTo }),
          dictionaries: [...theirs].map(name), first_to: first.address, first_dictionary: name(own.ofOne(first.address)),
          detail: 'split_recipients: each transaction carries the recipients of one dictionary',
        });
        return outcome.tempfail(`Too many recipients: send to <${rcpt.address}> in another transaction`, { code: 452, enhanced: '4.5.3' });
      }
      const added = [...theirs].filter((d) => !present.has(d));
      if (added.length > 0 && present.size + added.length > 1) {
        ctx.log.info('bayes recipient goes to several dictionaries: the message is scored by the shared dictionary alone', {
          to: [rcpt.address], targets: goesTo, dictionaries: [...new Set([...present, ...theirs])].map(name),
          detail: 'split_recipients cannot split the targets of one recipient: the client names the recipient, not them',
        });
      }
    }

    async function onAfterVerdict(ctx: HookContext): Promise<Outcome | void> {
      const verdict = ctx.verdict;
      // A `moat check`'s verdict was given to no one: scored, never learned (the core does not run this hook for one).
      if (!verdict || ctx.session.check) return;
      const tokens = ctx.state.tokens as TokenCounts | undefined;
      // Without tokens the data hook did not read the message (a plugin before this one refused or deferred it, or
      // this one timed out): a honeypot's or ham address's lesson still ends in a log line, rather than in nothing.
      const lesson = tokens ? lessonOf(ctx, verdict) : ((ctx.state.lesson as Lesson | undefined) ?? recipientsLesson(ctx.recipients.map((r) => r.address)));
      if (!lesson) return;
      const report = ctx.state.report as DeliveryReport | undefined;
      const refused = report && reportLessonRefusal(report, !!ctx.state.lesson);
      if (refused) {
        ctx.log.info('bayes not learned', { ...lessonFields(lesson), reason: refused });
        return;
      }
      if (!settled(verdict.action)) {
        ctx.log.info('bayes not learned', { ...lessonFields(lesson), reason: 'deferred (4xx): learned when a retry is accepted' });
        return;
      }
      if (!tokens) {
        ctx.log.info('bayes not learned', { ...lessonFields(lesson), reason: `the message was not read: ${verdict.reason}` });
        return;
      }
      // Only a quarantined message can be judged by its recipients later, so only its lesson is recorded.
      await track(learn(ctx, tokens, lesson, verdict.action === 'quarantine' ? ctx.message?.id : undefined));
    }

    return {
      hooks: { data: onData, afterVerdict: onAfterVerdict, ...(cfg.split_recipients ? { rcptTo: onRcpt } : {}) },
      // Off: no method, so the quarantine pages do not even read the message for this plugin.
      ...(cfg.learn_from_recipients === 'off' ? {} : { feedback: (event: RecipientFeedback) => track(fromRecipient(event)) }),
      async close() {
        closing = true;
        await Promise.allSettled(learning);
        await own.close();
        await shared.close();
      },
    };
  },
});
