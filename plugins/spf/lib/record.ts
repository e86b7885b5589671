// Parsing of one SPF record into mechanisms and modifiers, with every syntax error of RFC 7208 section 4.6 and 12.
import { parseMacroString, endsWithMacro, type MacroPart } from './macro.ts';
import { parseNetwork } from './ip.ts';

export type Qualifier = '+' | '-' | '~' | '?';

interface Base { qualifier: Qualifier; text: string }
export type Mechanism =
  | (Base & { type: 'all' })
  | (Base & { type: 'include' | 'exists'; domain: MacroPart[] })
  | (Base & { type: 'a' | 'mx'; domain?: MacroPart[]; cidr4: number; cidr6: number })
  | (Base & { type: 'ptr'; domain?: MacroPart[] })
  | (Base & { type: 'ip4' | 'ip6'; network: Uint8Array; prefix: number });

export interface SpfRecord {
  mechanisms: Mechanism[];
  redirect?: MacroPart[];
  exp?: MacroPart[];
}

/** A record that breaks the grammar: the evaluation ends in permerror. */
export class SpfSyntaxError extends Error {
  constructor(message: string) {
    // The message quotes the sender's record, which can be 64 KB; it goes into logs, findings and Received-SPF.
    super(message.length > MAX_PROBLEM ? `${message.slice(0, MAX_PROBLEM)}…` : message);
    this.name = 'SpfSyntaxError';
  }
}

const MAX_PROBLEM = 300;

const VERSION_RE = /^v=spf1(?: |$)/i;
const MODIFIER_RE = /^([a-z][a-z0-9_.\-]*)=(.*)$/i;
const MECHANISM_RE = /^([+\-~?]?)([a-z][a-z0-9]*)(.*)$/i;
const DUAL_CIDR_RE = /(?:\/(\d+))?(?:\/\/(\d+))?$/;

/** True for a TXT string that is an SPF version 1 record. */
export function isSpfRecord(txt: string): boolean {
  return VERSION_RE.test(txt);
}

function cidrLength(digits: string | undefined, max: number, term: string): number {
  if (digits === undefined) return max;
  if (!/^(?:0|[1-9]\d*)$/.test(digits) || Number(digits) > max) throw new SpfSyntaxError(`bad prefix length in "${term}"`);
  return Number(digits);
}

/**
 * The toplabel of RFC 7208: alphanumerics with inner hyphens, and not all digits.
 * Written as two anchored checks because one unanchored regex for `"." toplabel ["."]` at the end of the spec
 * backtracks quadratically on a long label that fails at its last character.
 */
function isTopLabel(label: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i.test(label) && (/[a-z]/i.test(label) || label.includes('-'));
}

/** The domain-end of RFC 7208 for a spec that ends in a literal: "." toplabel ["."]. */
function hasTopLabelEnd(spec: string): boolean {
  const name = spec.endsWith('.') ? spec.slice(0, -1) : spec;
  const dot = name.lastIndexOf('.');
  return dot >= 0 && isTopLabel(name.slice(dot + 1));
}

/** Parses a domain-spec: a macro-string whose end is a macro or a dot and a valid top label. */
export function parseDomainSpec(spec: string, term: string): MacroPart[] {
  if (spec === '') throw new SpfSyntaxError(`empty domain in "${term}"`);
  const parts = parseMacroString(spec);
  if (!parts) throw new SpfSyntaxError(`bad macro in "${term}"`);
  if (!endsWithMacro(parts) && !hasTopLabelEnd(spec)) throw new SpfSyntaxError(`bad domain "${spec}" in "${term}"`);
  return parts;
}

/** `:domain` with an optional dual CIDR length, for a and mx. */
function parseDomainAndCidr(rest: string, term: string): { domain?: MacroPart[]; cidr4: number; cidr6: number } {
  const m = DUAL_CIDR_RE.exec(rest)!;
  const head = rest.slice(0, m.index);
  const cidr4 = cidrLength(m[1], 32, term);
  const cidr6 = cidrLength(m[2], 128, term);
  if (head === '') return { cidr4, cidr6 };
  if (!head.startsWith(':')) throw new SpfSyntaxError(`bad argument in "${term}"`);
  return { domain: parseDomainSpec(head.slice(1), term), cidr4, cidr6 };
}

function parseIpNetwork(rest: string, family: 4 | 6, term: string): { network: Uint8Array; prefix: number } {
  if (!rest.startsWith(':')) throw new SpfSyntaxError(`missing network in "${term}"`);
  const value = rest.slice(1);
  const slash = value.indexOf('/', family === 6 ? value.lastIndexOf(':') : 0);
  const addr = slash < 0 ? value : value.slice(0, slash);
  const network = parseNetwork(addr, family);
  if (!network) throw new SpfSyntaxError(`bad address in "${term}"`);
  const max = family === 4 ? 32 : 128;
  const prefix = slash < 0 ? max : cidrLength(value.slice(slash + 1), max, term);
  return { network, prefix };
}

function parseMechanism(term: string): Mechanism {
  const m = MECHANISM_RE.exec(term);
  if (!m) throw new SpfSyntaxError(`unknown term "${term}"`);
  const qualifier = (m[1] || '+') as Qualifier;
  const name = m[2].toLowerCase();
  const rest = m[3];
  const base = { qualifier, text: term };
  switch (name) {
    case 'all':
      if (rest !== '') throw new SpfSyntaxError(`"all" takes no argument: "${term}"`);
      return { ...base, type: 'all' };
    case 'include':
    case 'exists':
      if (!rest.startsWith(':')) throw new SpfSyntaxError(`"${name}" needs a domain: "${term}"`);
      return { ...base, type: name, domain: parseDomainSpec(rest.slice(1), term) };
    case 'a':
    case 'mx':
      return { ...base, type: name, ...parseDomainAndCidr(rest, term) };
    case 'ptr':
      if (rest === '') return { ...base, type: 'ptr' };
      if (!rest.startsWith(':')) throw new SpfSyntaxError(`bad argument in "${term}"`);
      return { ...base, type: 'ptr', domain: parseDomainSpec(rest.slice(1), term) };
    case 'ip4':
    case 'ip6':
      return { ...base, type: name, ...parseIpNetwork(rest, name === 'ip4' ? 4 : 6, term) };
    default:
      throw new SpfSyntaxError(`unknown mechanism "${term}"`);
  }
}

/** Parses a whole record (starting with `v=spf1`); throws SpfSyntaxError on any error anywhere in it. */
export function parseRecord(txt: string): SpfRecord {
  if (!/^[\x20-\x7e]*$/.test(txt)) throw new SpfSyntaxError('record has characters outside printable ASCII');
  if (!isSpfRecord(txt)) throw new SpfSyntaxError('not an SPF record');
  const record: SpfRecord = { mechanisms: [] };
  for (const term of txt.slice(6).split(' ')) {
    if (term === '') continue;
    const mod = MODIFIER_RE.exec(term);
    if (!mod) { record.mechanisms.push(parseMechanism(term)); continue; }
    const name = mod[1].toLowerCase();
    if (name === 'redirect' || name === 'exp') {
      if (record[name]) throw new SpfSyntaxError(`"${name}" given twice`);
      record[name] = parseDomainSpec(mod[2], term);
    } else if (!parseMacroString(mod[2])) {
      throw new SpfSyntaxError(`bad macro in modifier "${term}"`);
    }
  }
  return record;
}
