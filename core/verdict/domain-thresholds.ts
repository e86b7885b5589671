// `scores.domains`: the thresholds of one recipient domain (a hosting provider's customer), as Rspamd's settings per
// recipient domain and PMG's rules per "who" object give them; each key left out is the global one.
import { s, type Infer, type Issue, type Schema } from '../config/schema.ts';
import { notADomain } from '../config/domain-name.ts';
import { aLabelHostName } from '../text/idn-address.ts';
import { THRESHOLD_PRECEDENCE, thresholdOrderIssues } from './thresholds.ts';

type Action = typeof THRESHOLD_PRECEDENCE[number];

/** The thresholds a message is judged by: a number, or absent for an action that is off. */
export type ThresholdSet = { [A in Action]?: number };

/**
 * One threshold of a domain: absent (undefined) takes the global value, null turns the action off, a number sets it.
 * The schema language folds null into absent for its optional keys, and here the two must stay apart.
 */
function thresholdOverride(description?: string): Schema<number | null | undefined> {
  const number = s.number();
  return {
    kind: 'number', description, hasDefault: false, optional: true,
    parse: (v, p, is) => (v === undefined ? undefined : v === null ? null : number.parse(v, p, is)),
    expected: () => `${number.expected()}, or null`,
    describe: (text) => thresholdOverride(text),
    default: () => { throw new Error('a domain threshold has no default: left out, it is the global one'); },
    optionalValue: () => thresholdOverride(description),
  };
}

const override = (action: Action) => thresholdOverride(`This domain's ${action} threshold: left out, scores.${action}; null turns it off for the domain`);

const domainEntry = s.object({
  add_header: override('add_header'),
  quarantine: override('quarantine'),
  tempfail: override('tempfail'),
  reject: override('reject'),
  subdomains: s.boolean().default(false).describe('The entry also covers every subdomain of the key (mx.custa.example for custa.example) that has no entry of its own; the nearest such parent applies'),
});

export type DomainThresholds = Infer<typeof domainEntry>;

export const domainThresholdsSchema = s.record(domainEntry).default({});

/** What of `scores:` the thresholds of a domain are made from. */
export type ScoresWithDomains = ThresholdSet & { domains: Readonly<Record<string, DomainThresholds>> };

/** A domain as entries are looked up by: lower-case A-labels, no root dot; undefined for no host name. */
const canonical = (domain: string): string | undefined => aLabelHostName(domain.replace(/\.$/, ''));

/** The entries by canonical name, made once per config generation (a config is never changed in place). */
const byName = new WeakMap<object, Map<string, DomainThresholds>>();

function entriesOf(domains: ScoresWithDomains['domains']): Map<string, DomainThresholds> {
  let map = byName.get(domains);
  if (!map) {
    map = new Map();
    for (const [key, entry] of Object.entries(domains)) {
      const name = canonical(key);
      if (name && !map.has(name)) map.set(name, entry);
    }
    byName.set(domains, map);
  }
  return map;
}

/** The entry for `domain`: its own, else that of its nearest parent with `subdomains: true`. */
function entryFor(domains: ScoresWithDomains['domains'], domain: string): DomainThresholds | undefined {
  const name = canonical(domain);
  if (!name) return undefined;
  const map = entriesOf(domains);
  const own = map.get(name);
  if (own) return own;
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
    const parent = map.get(name.slice(dot + 1));
    if (parent?.subdomains) return parent;
  }
  return undefined;
}

function resolved(scores: ThresholdSet, entry: DomainThresholds | undefined): ThresholdSet {
  const set: ThresholdSet = {};
  for (const a of THRESHOLD_PRECEDENCE) {
    const own = entry?.[a];
    const value = own === undefined ? scores[a] : own ?? undefined;
    if (value !== undefined) set[a] = value;
  }
  return set;
}

/** The thresholds that apply to mail for `domain` (a recipient's). */
export function thresholdsFor(scores: ScoresWithDomains, domain: string): ThresholdSet {
  return resolved(scores, entryFor(scores.domains, domain));
}

/** `scores` with the thresholds of `domain` in place of the global ones; the same object when it has no entry. */
export function scoresFor<S extends ScoresWithDomains>(scores: S, domain: string | undefined): S {
  const entry = domain === undefined ? undefined : entryFor(scores.domains, domain);
  if (!entry) return scores;
  const set = resolved(scores, entry);
  return { ...scores, ...Object.fromEntries(THRESHOLD_PRECEDENCE.map((a) => [a, set[a]])) };
}

export function sameThresholds(a: ThresholdSet, b: ThresholdSet): boolean {
  return THRESHOLD_PRECEDENCE.every((k) => a[k] === b[k]);
}

/** `reject=10 add_header=5`, for a log line; `none` when every action is off. */
export function thresholdsText(set: ThresholdSet): string {
  return THRESHOLD_PRECEDENCE.filter((a) => set[a] !== undefined).map((a) => `${a}=${set[a]}`).join(' ') || 'none';
}

/**
 * What is wrong in `scores.domains`: a key that is no domain name, two keys for one domain, and a domain whose
 * thresholds (its own with the global ones it keeps) leave an action no score can reach.
 */
export function domainThresholdIssues(scores: ScoresWithDomains, at: string): Issue[] {
  const issues: Issue[] = [];
  const seen = new Map<string, string>();
  for (const [key, entry] of Object.entries(scores.domains)) {
    const path = `${at}.domains.${key}`;
    if (/^[.*]/.test(key)) {
      issues.push({ path, message: `${JSON.stringify(key)} is a pattern: write the domain itself, with subdomains: true to cover its subdomains` });
      continue;
    }
    const why = notADomain(key);
    if (why) { issues.push({ path, message: `${JSON.stringify(key)} ${why}` }); continue; }
    const name = canonical(key)!;
    const other = seen.get(name);
    if (other !== undefined) issues.push({ path, message: `names the domain ${JSON.stringify(other)} names too: give each domain one entry` });
    seen.set(name, key);
    issues.push(...thresholdOrderIssues(resolved(scores, entry), path));
  }
  return issues;
}
