// Options of the bayes plugin, with their defaults, and the combinations of them that cannot work.
import path from 'node:path';
import { s, type Infer, type Issue } from '../../core/index.ts';
import { addressMatcher } from './auto-train.ts';
import { REPORT_SYMBOL } from './report-judgement.ts';
import { DEFAULT_TOKENIZER, type TokenizerOptions } from './engine/tokenizer.ts';

type Issues = Issue[];

const band = s.object({
  min: s.number({ min: 0, max: 1 }).describe('Lowest spam probability of the band'),
  symbol: s.string({ pattern: /^[A-Z][A-Z0-9_]*$/, patternName: 'a SCREAMING_SNAKE symbol' }).describe('Finding recorded for the band'),
  score: s.number().describe('Score the finding adds to the verdict'),
});

// Scored against the gateway's default scores.add_header (5), from the eval's rates per band (README, "Why the
// band scores"): from 0.9 up a message is tagged on this plugin's finding alone, and the ham side weighs less
// because a spammer chooses the words that pull a message down.
export const DEFAULT_BANDS = [
  { min: 0.99, symbol: 'BAYES_SPAM_99', score: 7 },
  { min: 0.9, symbol: 'BAYES_SPAM_90', score: 5 },
  { min: 0.7, symbol: 'BAYES_SPAM_70', score: 1.5 },
  { min: 0.1, symbol: 'BAYES_UNSURE', score: 0 },
  { min: 0.01, symbol: 'BAYES_HAM_90', score: -0.5 },
  { min: 0, symbol: 'BAYES_HAM_99', score: -1.5 },
];

const recipientDictionary = s.object({
  recipients: s.array(s.string())
    .describe('Recipients (`user@domain`, or `@domain` for a whole domain; tags as for honeypots) this dictionary is for'),
  dictionary: s.string()
    .describe('Its dictionary file (made with `moat bayes create`; relative to the config file); a missing one starts empty'),
  name: s.string({ pattern: /^$|^[A-Za-z0-9._-]+$/, patternName: 'letters, digits, dots, dashes and underscores' }).default('')
    .describe('Its name in log lines and in the shared counts\' namespace (`<share_namespace>.<name>`); empty: the file\'s name without its extension'),
});

const options = s.object({
  dictionary: s.string().default('')
    .describe('Dictionary file the plugin scores with and auto-trains (`.tab` MailEnable TAB, `.xml` MailEnable XML); empty: `<data_dir>/bayes/dictionary.tab`'),
  seed: s.string().default('')
    .describe('When the dictionary file does not exist yet, start from a copy of this one; empty: the shipped `dictionaries/default.tab`; `none`: start empty'),
  mode: s.enum(['all', 'frequent', 'extreme'] as const).default('all')
    .describe('Tokens combined (MailEnable\'s calculation method): `all` tokens, the most `frequent` ones in the message, or the most `extreme` ones'),
  max_tokens: s.number({ integer: true, min: 1 }).default(150)
    .describe('Tokens combined at most in the `frequent` and `extreme` modes'),
  robs: s.number({ min: 0 }).default(0.3)
    .describe('Robinson\'s s: how strongly rarely seen tokens are pulled towards `robx`'),
  robx: s.number({ min: 0, max: 1 }).default(0.52)
    .describe('Robinson\'s x: the spam probability assumed for a token never seen'),
  min_dev: s.number({ min: 0, max: 0.5 }).default(0.375)
    .describe('Exclusion band: tokens whose probability lies within this distance of 0.5 are ignored'),
  min_tokens: s.number({ integer: true, min: 0 }).default(3)
    .describe('A message with fewer usable tokens than this has its probability pulled towards 0.5 in proportion'),
  odds_weight: s.number({ min: 0 }).default(0.05)
    .describe('Weight of the tokens\' summed log-odds (over √n) added to the logit of Fisher\'s probability; 0: Fisher\'s method alone'),
  linear_weight: s.number({ min: 0 }).default(0.3)
    .describe('Weight of the linear model\'s sum (the dictionary\'s token weights, fitted by `moat bayes create`/`merge`) added to the logit; 0: left out'),
  byte_gram_weight: s.number({ min: 0 }).default(0.3)
    .describe('Weight of the byte model\'s term (a linear model over the 4-byte sequences of the message\'s first bytes, fitted by `moat bayes create`/`merge`) added to the logit; 0: left out'),
  logit_cap: s.number({ min: 0 }).default(3)
    .describe('With the byte model\'s term added, the Bayesian part of the logit is first held within ±this (3: probabilities 0.047–0.953), so the fitted models decide where Fisher\'s method saturates; 0: no cap'),
  process_html: s.boolean().default(true)
    .describe('Also learn HTML tags and attributes (MailEnable\'s "process HTML content")'),
  bigrams: s.boolean().default(true)
    .describe('Also learn pairs of adjacent body words, punctuation marks included; must match how the dictionary was trained'),
  // What hostile mail costs grows with what is read: at most about 0.15 s a message at 512 KB, several seconds at
  // 20 MB, all of it on the gateway's one thread. 2 MB keeps the worst case under a second.
  max_bytes: s.size({ min: 1024, max: 2 * 1024 * 1024 }).default(512 * 1024)
    .describe('Bytes of a message read for scoring and learning at most (1KB–2MB)'),
  min_learned: s.number({ integer: true, min: 0 }).default(100)
    .describe('Score only once the dictionary holds at least this many spam and this many ham messages'),
  bands: s.array(band).default(DEFAULT_BANDS)
    .describe('Probability bands: the band with the highest `min` not above the probability gives the finding. The list replaces the default bands whole; to change a score, use band_scores'),
  band_scores: s.record(s.number()).default({})
    .describe('Scores by band symbol, over those of `bands` (the default bands unless given): `{BAYES_SPAM_99: 9}` changes that score and keeps every other band as it is'),
  header: s.boolean().default(true)
    .describe('Add `X-Mailmoat-Bayes: <probability>`, or `none; dictionary too small: …` below `min_learned` (a copy arriving from outside is always removed)'),
  delivery_reports: s.enum(['returned', 'whole'] as const).default('returned')
    .describe('A delivery report (a bounce from the null sender: multipart/report of delivery-status, or Exim\'s, qmail\'s or old Postfix\'s plain form) is judged by the message it returns (`returned`): a spam band from it stands, a ham band is withheld, one returning nothing gets no band, and it is learned only as its returned message; `whole`: scored and learned as any message'),
  skip_trusted: s.boolean().default(true)
    .describe('Do not score mail from authenticated users and relay networks'),
  honeypots: s.array(s.string()).default([])
    .describe('Recipients (`user@domain`, or `@domain` for a whole domain) that get only spam: their mail is learned as spam'),
  honeypot_delivery: s.enum(['discard', 'relay'] as const).default('discard')
    .describe('What becomes of mail to a honeypot once learned: `discard` drops it for that recipient (the sender still gets 250, and other recipients get it as usual); `relay` delivers it like any mail, for a trap with a mailbox behind the gateway'),
  ham_addresses: s.array(s.string()).default([])
    .describe('Recipients whose mail is learned as ham (when no recipient is a honeypot)'),
  recipient_delimiter: s.string().default('+')
    .describe('Characters that start a recipient\'s address tag: `trap+anything@domain` is the honeypot `trap@domain` (and likewise for ham addresses); empty turns tags off'),
  balance: s.boolean().default(true)
    .describe('Balance rule: learn spam only while learned ham ≥ learned spam, and ham only while spam ≥ ham'),
  balance_slack: s.number({ integer: true, min: 0 }).default(0)
    .describe('Messages by which one class may lead the other before the balance rule stops learning it'),
  learn_from_verdict: s.boolean().default(false)
    .describe('Also learn from certain verdicts: the total score (without this plugin\'s own) decides'),
  learn_spam_score: s.number().default(15)
    .describe('A total score (other plugins) at or above this is learned as spam'),
  learn_ham_score: s.number().default(-2)
    .describe('A total score (other plugins) at or below this is learned as ham'),
  flush_interval: s.duration().default(30_000)
    .describe('How often learned counts are merged into the dictionary file (under its lock, with what other writers added)'),
  reload_check: s.duration().default(5_000)
    .describe('How often the dictionary file and the reload request file are checked for changes'),
  share_counts: s.enum(['auto', 'on', 'off'] as const).default('auto')
    .describe('Share learned counts through the state store (`auto`: when the store is Redis), so every gateway learns what one learned'),
  share_namespace: s.string().default('default')
    .describe('Key namespace of the shared counts (`bayes:<namespace>:…`): gateways with one dictionary share one namespace'),
  recipient_dictionaries: s.array(recipientDictionary).default([])
    .describe('Dictionaries of some recipients\' own mail, each `{recipients, dictionary}`: a message whose recipients all have the same one is scored by the weighted mean of both dictionaries\' logits, and its lessons are learned into both'),
  recipient_weight: s.number({ min: 0 }).default(1)
    .describe('Weight of a recipient dictionary\'s logit in that mean (the shared one weighs 1); 0: recipient dictionaries are learned into but not scored with'),
  split_recipients: s.boolean().default(false)
    .describe('At RCPT, answer 452 4.5.3 to a recipient whose recipient dictionary (or lack of one) is not that of the transaction\'s first recipient, so that the sender sends it in another transaction and each message is scored by its recipients\' own dictionary; off: such a message is scored by the shared dictionary alone'),
  learn_from_recipients: s.enum(['off', 'own', 'all'] as const).default('off')
    .describe('Learn from what recipients do on the quarantine pages (a release or Always allow: ham; Always block: spam): `off`; `own`: into the recipient\'s own recipient dictionary only, when they have one; `all`: into it and the shared dictionary'),
  sync_interval: s.duration().default(30_000)
    .describe('How often the lessons other gateways logged in the store are read (all counters are read again every 10 minutes)'),
});

export type BayesConfig = Infer<typeof options>;
export type RecipientDictionaryConfig = BayesConfig['recipient_dictionaries'][number];

/**
 * The shared dictionary file of the options: `dictionary` relative to the config file's folder, else the one in
 * data_dir. The plugin and `moat bayes ... --config` both ask this, so they name one file.
 */
export function dictionaryPath(cfg: Pick<BayesConfig, 'dictionary'>, at: { configDir: string; dataDir: string }): string {
  return cfg.dictionary ? path.resolve(at.configDir, cfg.dictionary) : path.join(at.dataDir, 'bayes', 'dictionary.tab');
}

/** How the options say to tokenize: a lesson taught from the command line is then the tokens the gateway learns. */
export function tokenizerOptions(cfg: Pick<BayesConfig, 'process_html' | 'bigrams' | 'max_bytes'>): TokenizerOptions {
  return { ...DEFAULT_TOKENIZER, processHtml: cfg.process_html, bigrams: cfg.bigrams, maxBytes: cfg.max_bytes };
}

/** How the log and the shared counts name a recipient dictionary: its `name`, else its file's name without extension. */
export function recipientDictionaryName(entry: { name?: string; dictionary: string }): string {
  return entry.name || path.basename(entry.dictionary, path.extname(entry.dictionary));
}
export type Band = { min: number; symbol: string; score: number };

/** The findings the plugin records for a lesson and for a delivery report: a band of either name would be read as one. */
const LESSON_SYMBOL = 'BAYES_LESSON';
/** Decimals of the probability as `X-Mailmoat-Bayes` shows it, and as its band is chosen (index.ts). */
export const PROBABILITY_DECIMALS = 4;

/**
 * Bands that can never be chosen (a `min` another band has first), a `min` finer than the probability is shown, a
 * symbol given two scores, and the lesson's and the delivery report's symbols.
 */
function checkBands(bands: readonly Band[], at: string, issues: Issues): void {
  bands.forEach((b, j) => {
    if (!b) return; // not a mapping: already an issue of its own
    if (typeof b.min === 'number' && Number(b.min.toFixed(PROBABILITY_DECIMALS)) !== b.min) {
      issues.push({ path: `${at}[${j}].min`, message: `${b.min} has more than ${PROBABILITY_DECIMALS} decimals: the probability is shown in X-Mailmoat-Bayes, and put in its band, with ${PROBABILITY_DECIMALS}` });
    }
    if (b.symbol === LESSON_SYMBOL) {
      issues.push({ path: `${at}[${j}].symbol`, message: `${LESSON_SYMBOL} is the finding of a message learned from its recipients: a band needs a symbol of its own` });
    }
    if (b.symbol === REPORT_SYMBOL) {
      issues.push({ path: `${at}[${j}].symbol`, message: `${REPORT_SYMBOL} is the finding of a delivery report judged by the message it returns: a band needs a symbol of its own` });
    }
    const i = bands.findIndex((a) => a?.min === b.min);
    if (b.min !== undefined && i < j) {
      issues.push({ path: `${at}[${j}].min`, message: `${b.min} is also the min of bands[${i}] (${bands[i].symbol}): of two bands with one min the first is chosen, so ${b.symbol} never would be` });
    }
    const k = bands.findIndex((a) => a?.symbol === b.symbol && a.score !== b.score);
    if (b.symbol !== undefined && b.score !== undefined && k >= 0 && k < j) {
      issues.push({ path: `${at}[${j}].score`, message: `${b.symbol} has the score ${bands[k].score} in bands[${k}]: a symbol has one score` });
    }
  });
}

/**
 * Why an address entry can match no recipient, or null when it can. Entries are matched as auto-train.ts does:
 * `user@domain` against the whole address (or the address without its tag), `@domain` against its domain; and every
 * recipient the front door takes has one @ with a local part and a domain.
 */
function unmatchable(entry: string): string | null {
  const e = entry.trim();
  const hint = (d: string) => `write "user@${d}" for one address or "@${d}" for every address of the domain`;
  if (e === '') return 'is empty, so it matches no recipient';
  const ats = e.split('@').length - 1;
  if (ats === 0) return `${JSON.stringify(entry)} has no @, so it matches no recipient: ${hint(e)}`;
  if (ats > 1) return `${JSON.stringify(entry)} has more than one @, so it matches no recipient`;
  if (e.endsWith('@')) return `${JSON.stringify(entry)} has no domain after the @, so it matches no recipient: ${hint('example.com')}`;
  return null;
}

function checkAddresses(list: readonly string[], at: string, issues: Issues): void {
  list.forEach((entry, i) => {
    const why = typeof entry === 'string' ? unmatchable(entry) : null;
    if (why) issues.push({ path: `${at}[${i}]`, message: why });
  });
}

/** A ham address that is also a honeypot, or within a honeypot domain, is never learned as ham: honeypots win. */
function checkHamNotHoneypot(honeypots: readonly string[], hamAddresses: readonly string[], delimiters: string, at: string, issues: Issues): void {
  // Each honeypot entry on its own, matched as recipients are, so the issue can name the one that wins.
  const honeypotMatchers = honeypots.map((h) => addressMatcher([String(h)], delimiters));
  hamAddresses.forEach((entry, j) => {
    const ham = String(entry).trim();
    const i = ham.includes('@') ? honeypotMatchers.findIndex((matches) => matches(ham)) : -1;
    if (i >= 0) {
      issues.push({ path: `${at}.ham_addresses[${j}]`, message: `${JSON.stringify(entry)} is also honeypots[${i}] (${JSON.stringify(honeypots[i])}): mail to it is always learned as spam` });
    }
  });
}

/** A tag delimiter that is part of every address's form (`@`, a quote, a space) would cut addresses apart wrongly. */
function checkDelimiters(delimiters: string, at: string, issues: Issues): void {
  const bad = [...delimiters].filter((c) => c === '@' || c === '"' || /\s/.test(c));
  if (bad.length) issues.push({ path: `${at}.recipient_delimiter`, message: `${JSON.stringify(delimiters)} holds ${bad.map((c) => JSON.stringify(c)).join(', ')}, which no address tag starts with` });
}

/** A period of 0 would run the task without pause: every millisecond a file check, or a rewrite of the dictionary. */
function checkIntervals(cfg: BayesConfig, at: string, issues: Issues): void {
  for (const key of ['flush_interval', 'reload_check', 'sync_interval'] as const) {
    if (cfg[key] === 0) issues.push({ path: `${at}.${key}`, message: 'must be above 0: it is how often the task runs, and 0 would run it without pause' });
  }
}

/**
 * Recipient dictionaries that could never be used as written: no recipients, an address no recipient has, one an
 * earlier entry already takes (the first entry that matches a recipient is its dictionary), the shared dictionary's
 * file or another entry's, and two entries of one name (their shared counts would be one).
 */
function checkRecipientDictionaries(cfg: BayesConfig, delimiters: string, at: string, issues: Issues): void {
  const entries = cfg.recipient_dictionaries;
  const earlier: Array<(addr: string) => boolean> = [];
  const files = new Map<string, number>();
  const names = new Map<string, number>();
  entries.forEach((e, i) => {
    if (!e || !Array.isArray(e.recipients) || typeof e.dictionary !== 'string') return; // already an issue of its own
    const here = `${at}.recipient_dictionaries[${i}]`;
    if (e.recipients.length === 0) issues.push({ path: `${here}.recipients`, message: 'lists no recipient, so the dictionary is never used' });
    checkAddresses(e.recipients, `${here}.recipients`, issues);
    e.recipients.forEach((r, j) => {
      const addr = String(r).trim();
      const k = addr.startsWith('@') ? -1 : earlier.findIndex((matches) => matches(addr));
      const sameDomain = addr.startsWith('@') ? entries.slice(0, i).findIndex((o) => o?.recipients?.some((x) => String(x).trim().toLowerCase() === addr.toLowerCase())) : -1;
      const first = k >= 0 ? k : sameDomain;
      if (first >= 0) issues.push({ path: `${here}.recipients[${j}]`, message: `${JSON.stringify(r)} is already taken by recipient_dictionaries[${first}]: a recipient's dictionary is the first entry that matches it` });
    });
    earlier.push(addressMatcher(e.recipients.map(String), delimiters));
    const file = path.normalize(e.dictionary);
    if (cfg.dictionary && file === path.normalize(cfg.dictionary)) issues.push({ path: `${here}.dictionary`, message: `${JSON.stringify(e.dictionary)} is the shared dictionary: a recipient dictionary needs a file of its own` });
    const f = files.get(file);
    if (f !== undefined) issues.push({ path: `${here}.dictionary`, message: `${JSON.stringify(e.dictionary)} is also recipient_dictionaries[${f}]'s file: merge the two entries' recipients into one` });
    else files.set(file, i);
    const name = recipientDictionaryName(e);
    const n = names.get(name);
    if (n !== undefined) issues.push({ path: `${here}.name`, message: `${JSON.stringify(name)} is also recipient_dictionaries[${n}]'s name: their shared counts and log lines would be one; give one a name of its own` });
    else names.set(name, i);
  });
}

/**
 * `band_scores` put into the bands, so that every reader of `bands` (scoring, the symbols the rules check against)
 * sees the scores in force; a symbol no band has is refused, as its score would silently do nothing.
 */
function applyBandScores(cfg: BayesConfig, at: string, issues: Issues): void {
  if (!Array.isArray(cfg.bands) || !cfg.band_scores || typeof cfg.band_scores !== 'object') return;
  const symbols = cfg.bands.map((b) => b?.symbol);
  for (const [symbol, score] of Object.entries(cfg.band_scores)) {
    if (!symbols.includes(symbol)) issues.push({ path: `${at}.band_scores.${symbol}`, message: `names no band (the bands are ${symbols.join(', ')})` });
    else if (typeof score === 'number') cfg.bands = cfg.bands.map((b) => (b?.symbol === symbol ? { ...b, score } : b));
  }
}

/**
 * Warnings for a `bands` list that leaves out bands the defaults have: written to change one band's score, it drops
 * the others, and mail in their ranges then gets no finding (no ham band: nothing takes a score off ham). Empty for
 * the default bands and for a list that keeps every default symbol.
 */
export function droppedBandWarnings(cfg: Pick<BayesConfig, 'bands'>, at: string): string[] {
  const kept = new Set(cfg.bands.map((b) => b.symbol));
  const dropped = DEFAULT_BANDS.filter((b) => !kept.has(b.symbol));
  if (!dropped.length) return [];
  const lowest = Math.min(...cfg.bands.map((b) => b.min));
  const spamKept = cfg.bands.some((b) => b.min >= 0.7);
  const hamKept = cfg.bands.some((b) => b.min < 0.1 && b.score < 0);
  const effects = [
    lowest > 0 && `a probability below ${lowest} gets no band at all`,
    !spamKept && 'no band at 0.7 or above: spam gets no score from bayes',
    !hamKept && 'no ham band (below 0.1 with a negative score): nothing takes a score off ham',
  ].filter(Boolean);
  return [`${at ? `${at}.` : ''}bands: leaves out ${dropped.map((b) => `${b.symbol} (${b.score})`).join(', ')} of the default bands${effects.length ? `, so ${effects.join('; ')}` : ''}. `
    + 'bands replaces the whole list: to change one band\'s score, leave bands out and write band_scores: { BAYES_SPAM_99: 9 }'];
}

/** The checks across keys, once each key has been read; issues are named by key path, as the schema's own are. */
function checkCombinations(cfg: BayesConfig, at: string, issues: Issues): void {
  applyBandScores(cfg, at, issues);
  if (Array.isArray(cfg.bands)) checkBands(cfg.bands, `${at}.bands`, issues);
  if (Array.isArray(cfg.honeypots)) checkAddresses(cfg.honeypots, `${at}.honeypots`, issues);
  if (Array.isArray(cfg.ham_addresses)) checkAddresses(cfg.ham_addresses, `${at}.ham_addresses`, issues);
  const delimiters = typeof cfg.recipient_delimiter === 'string' ? cfg.recipient_delimiter : '+';
  checkDelimiters(delimiters, at, issues);
  if (Array.isArray(cfg.honeypots) && Array.isArray(cfg.ham_addresses)) checkHamNotHoneypot(cfg.honeypots, cfg.ham_addresses, delimiters, at, issues);
  checkIntervals(cfg, at, issues);
  if (Array.isArray(cfg.recipient_dictionaries)) checkRecipientDictionaries(cfg, delimiters, at, issues);
  if (cfg.learn_from_recipients === 'own' && Array.isArray(cfg.recipient_dictionaries) && cfg.recipient_dictionaries.length === 0) {
    issues.push({ path: `${at}.learn_from_recipients`, message: '"own" learns into recipient dictionaries only, and recipient_dictionaries names none, so nothing would be learned: add recipient_dictionaries, or use "all" or "off"' });
  }
  if (typeof cfg.learn_spam_score === 'number' && typeof cfg.learn_ham_score === 'number' && cfg.learn_spam_score <= cfg.learn_ham_score) {
    issues.push({
      path: `${at}.learn_spam_score`,
      message: `${cfg.learn_spam_score} is not above learn_ham_score (${cfg.learn_ham_score}): every message would be learned, as spam from a total of ${cfg.learn_spam_score} up`,
    });
  }
}

export const configSchema = s.checked(options, checkCombinations);
