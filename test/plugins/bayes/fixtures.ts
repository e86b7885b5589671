// Small synthetic spam and ham for the bayes tests: two vocabularies, deterministic, written as files or kept in memory.
import fs from 'node:fs';
import path from 'node:path';
import { BayesFilter } from '../../../plugins/bayes/engine/filter.ts';

const SPAM_WORDS = ['viagra', 'casino', 'winner', 'lottery', 'cheap', 'pills', 'offer', 'unsubscribe', 'guaranteed', 'prize', 'bonus', 'refinance'];
const HAM_WORDS = ['meeting', 'agenda', 'project', 'review', 'deadline', 'budget', 'team', 'notes', 'minutes', 'schedule', 'draft', 'report'];
const COMMON = ['the', 'and', 'you', 'this', 'for', 'with', 'please', 'today'];

function pick(list: string[], seed: number, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(list[(seed * 7 + i * 5) % list.length]);
  return out;
}

export function message(opts: { spam: boolean; seed?: number; to?: string; subject?: string; extraHeaders?: string }): string {
  const seed = opts.seed ?? 1;
  const words = opts.spam ? SPAM_WORDS : HAM_WORDS;
  const body = [...pick(words, seed, 8), ...pick(COMMON, seed, 4), ...pick(words, seed + 3, 6)].join(' ');
  const from = opts.spam ? `"Best Deals" <deals${seed}@promo-mail.test>` : `"Alice" <alice@partner.test>`;
  const subject = opts.subject ?? (opts.spam ? `${pick(words, seed, 3).join(' ')} now` : `${pick(words, seed, 2).join(' ')} for tuesday`);
  return [
    `From: ${from}`,
    `To: ${opts.to ?? 'bob@example.com'}`,
    `Subject: ${subject}`,
    `Message-ID: <${seed}.${opts.spam ? 's' : 'h'}@${opts.spam ? 'promo-mail.test' : 'partner.test'}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    ...(opts.extraHeaders ? [opts.extraHeaders] : []),
    '',
    body,
    opts.spam ? 'click http://deals.promo-mail.test/win now' : 'see https://wiki.partner.test/page',
    '',
  ].join('\r\n');
}

/** Writes `n` spam and `n` ham messages as one file each under `dir/spam` and `dir/ham`. */
export function writeCorpus(dir: string, n: number, offset = 0): { spamDir: string; hamDir: string } {
  const spamDir = path.join(dir, 'spam');
  const hamDir = path.join(dir, 'ham');
  fs.mkdirSync(spamDir, { recursive: true });
  fs.mkdirSync(hamDir, { recursive: true });
  for (let i = 0; i < n; i++) {
    fs.writeFileSync(path.join(spamDir, `s${offset + i}.eml`), message({ spam: true, seed: offset + i }));
    fs.writeFileSync(path.join(hamDir, `h${offset + i}.eml`), message({ spam: false, seed: offset + i }));
  }
  return { spamDir, hamDir };
}

/** A filter that has learned `n` spam and `n` ham messages (seeds 0 … n-1). */
export function trainedFilter(n = 30): BayesFilter {
  const filter = new BayesFilter();
  for (let i = 0; i < n; i++) { filter.learn(message({ spam: true, seed: i }), true); filter.learn(message({ spam: false, seed: i }), false); }
  return filter;
}
