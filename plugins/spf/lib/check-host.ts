// check_host() of RFC 7208: evaluates a domain's SPF policy for a client address over the shared resolver.
import { DnsError, type DnsResolver } from '../../../core/index.ts';
import { parseClientIp, addressMatches, inPrefix, macroIp, type ClientIp } from './ip.ts';
import { expandMacros, parseMacroString, type MacroPart, type MacroValues } from './macro.ts';
import { parseRecord, isSpfRecord, SpfSyntaxError, type Mechanism, type Qualifier, type SpfRecord } from './record.ts';
import type { SpfEvaluation, SpfOptions, SpfQuery, SpfResult } from './types.ts';

const QUALIFIER_RESULT: Record<Qualifier, SpfResult> = { '+': 'pass', '-': 'fail', '~': 'softfail', '?': 'neutral' };
const DEFAULT_EXPLANATION = 'The domain %{o} does not designate %{c} as a permitted sender';
/** RFC 7208 4.6.4: at most this many MX names and PTR names are looked at per term. */
const MAX_MX = 10;
const MAX_PTR = 10;
/**
 * RFC 7208 7.3 shortens a long expanded domain from the left, label by label, to 253 characters, after one trailing
 * dot is dropped: the label boundary it cuts at lies within the last 254 characters, so the last 255 of the expansion
 * decide the name. (A final label longer than 253 comes out shortened too, but such a name is unusable either way.)
 */
const DOMAIN_TAIL = 255;
/** No SMTP reply line carries more than 512 characters (RFC 5321 4.5.3.1.5), so no explanation needs more. */
const MAX_EXPLANATION = 512;

/** Ends the evaluation with an error result, from any depth of include/redirect. */
class Abort extends Error {
  readonly result: 'permerror' | 'temperror';
  constructor(result: 'permerror' | 'temperror', message: string) {
    super(message);
    this.result = result;
  }
}

interface Decision { result: SpfResult; mechanism?: string; explanation?: string; broad?: boolean }

/**
 * Whether a matching term would match almost any client: `all`, or a range wider than any one organisation holds
 * (an IPv4 prefix shorter than /8, an IPv6 prefix shorter than /16), `a`/`mx` ones included. A pass from such a term
 * says only that the domain lets the whole internet send for it, as a spammer's own domain does (`+all`).
 */
function isBroadTerm(mech: Mechanism): boolean {
  switch (mech.type) {
    case 'all': return true;
    case 'ip4': return mech.prefix < 8;
    case 'ip6': return mech.prefix < 16;
    case 'a':
    case 'mx': return mech.cidr4 < 8 || mech.cidr6 < 16;
    default: return false;
  }
}

/** A domain that can be put in a DNS query: labels of 1 to 63 octets, 253 in all. */
export function isQueryableName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  if (n === '' || n.length > 253) return false;
  return n.split('.').every((l) => l.length >= 1 && l.length <= 63);
}

/** The initial-processing check of RFC 7208 4.3: a multi-label domain name, not a literal. */
export function isCheckableDomain(name: string): boolean {
  return !name.startsWith('[') && isQueryableName(name) && name.replace(/\.$/, '').includes('.');
}

function tempOrVoid(err: unknown): 'void' | 'temp' {
  return err instanceof DnsError && err.notFound ? 'void' : 'temp';
}

class Evaluation {
  lookups = 0;
  voidLookups = 0;
  private readonly dns: DnsResolver;
  private readonly client: ClientIp;
  private readonly query: SpfQuery;
  private readonly opts: SpfOptions;
  private readonly local: string;
  private readonly senderDomain: string;
  private validated?: Promise<string[]>;
  /** Whether the include that matched last passed through a broad term (read right after its match). */
  private includedBroad = false;

  constructor(query: SpfQuery, client: ClientIp, opts: SpfOptions) {
    this.query = query;
    this.client = client;
    this.opts = opts;
    this.dns = opts.resolver;
    const at = query.sender.lastIndexOf('@');
    this.local = (at < 0 ? '' : query.sender.slice(0, at)) || 'postmaster';
    this.senderDomain = at < 0 ? query.sender : query.sender.slice(at + 1);
  }

  macroValues(domain: string): MacroValues {
    return {
      sender: `${this.local}@${this.senderDomain}`,
      local: this.local,
      senderDomain: this.senderDomain,
      domain,
      ip: macroIp(this.client),
      ipText: this.client.text,
      version: this.client.family === 4 ? 'in-addr' : 'ip6',
      helo: this.query.helo,
      receiver: this.opts.receiver ?? 'unknown',
      validatedName: () => this.validatedName(domain),
    };
  }

  private countLookup(): void {
    if (++this.lookups > (this.opts.maxLookups ?? 10)) throw new Abort('permerror', 'too many DNS lookups');
  }

  private countVoid(): void {
    if (++this.voidLookups > (this.opts.maxVoidLookups ?? 2)) throw new Abort('permerror', 'too many void DNS lookups');
  }

  /** Runs one DNS query of a mechanism: a void answer is counted and yields [], other errors end in temperror. */
  private async query_<T>(fn: () => Promise<T[]>, countVoid: boolean): Promise<T[]> {
    try {
      const r = await fn();
      if (r.length === 0 && countVoid) this.countVoid();
      return r;
    } catch (err) {
      if (err instanceof Abort) throw err;
      if (tempOrVoid(err) === 'temp') throw new Abort('temperror', `DNS error: ${(err as Error).message}`);
      if (countVoid) this.countVoid();
      return [];
    }
  }

  private addresses(name: string, countVoid: boolean): Promise<string[]> {
    return this.query_(() => (this.client.family === 4 ? this.dns.resolve4(name) : this.dns.resolve6(name)), countVoid);
  }

  /** Expands a domain-spec and shortens it from the left to 253 characters (RFC 7208 7.3). */
  async expandDomain(parts: MacroPart[], domain: string): Promise<string> {
    let name = (await expandMacros(parts, this.macroValues(domain), DOMAIN_TAIL, 'end')).replace(/\.$/, '');
    while (name.length > 253 && name.includes('.')) name = name.slice(name.indexOf('.') + 1);
    return name;
  }

  /** The client's PTR names whose forward lookup gives the client's address back (first ten only). */
  private validatedNames(): Promise<string[]> {
    this.validated ??= (async () => {
      let names: string[];
      try {
        names = await this.dns.reverse(this.client.text);
      } catch (err) {
        if (tempOrVoid(err) === 'void') this.countVoid();
        return [];
      }
      const out: string[] = [];
      for (const name of names.slice(0, MAX_PTR)) {
        const clean = name.replace(/\.$/, '');
        try {
          const addrs = this.client.family === 4 ? await this.dns.resolve4(clean) : await this.dns.resolve6(clean);
          if (addrs.some((a) => addressMatches(this.client, a, this.client.family === 4 ? 32 : 128))) out.push(clean);
        } catch (err) {
          if (err instanceof Abort) throw err;
          // RFC 7208 5.5: a failed forward lookup only drops that name.
        }
      }
      return out;
    })();
    return this.validated;
  }

  private async validatedName(domain: string): Promise<string> {
    let names: string[];
    try { names = await this.validatedNames(); } catch { return 'unknown'; }
    const d = domain.toLowerCase();
    return names.find((n) => n.toLowerCase() === d)
      ?? names.find((n) => n.toLowerCase().endsWith(`.${d}`))
      ?? names[0]
      ?? 'unknown';
  }

  private async matches(mech: Mechanism, domain: string): Promise<boolean> {
    switch (mech.type) {
      case 'all': return true;
      case 'ip4':
      case 'ip6':
        return (mech.type === 'ip4') === (this.client.family === 4) && inPrefix(this.client.bytes, mech.network, mech.prefix);
      case 'include': {
        this.countLookup();
        const target = await this.expandDomain(mech.domain, domain);
        const r = isQueryableName(target) ? await this.checkDomain(target) : { result: 'none' as const };
        if (r.result === 'pass') { this.includedBroad = r.broad === true; return true; }
        if (r.result === 'temperror') throw new Abort('temperror', `include:${target} gave temperror`);
        if (r.result === 'permerror' || r.result === 'none') throw new Abort('permerror', `include:${target} gave ${r.result}`);
        return false;
      }
      case 'a':
      case 'mx': {
        this.countLookup();
        const target = mech.domain ? await this.expandDomain(mech.domain, domain) : domain;
        if (!isQueryableName(target)) return false;
        const prefix = this.client.family === 4 ? mech.cidr4 : mech.cidr6;
        let addrs: string[];
        if (mech.type === 'a') {
          addrs = await this.addresses(target, true);
        } else {
          const mx = await this.query_(() => this.dns.resolveMx(target), true);
          if (mx.length > MAX_MX) throw new Abort('permerror', `mx:${target} has more than ${MAX_MX} MX records`);
          addrs = [];
          for (const r of mx) {
            const host = r.exchange.replace(/\.$/, '');
            if (host && isQueryableName(host)) addrs.push(...await this.addresses(host, false));
          }
        }
        return addrs.some((a) => addressMatches(this.client, a, prefix));
      }
      case 'ptr': {
        this.countLookup();
        const target = (mech.domain ? await this.expandDomain(mech.domain, domain) : domain).toLowerCase();
        const names = await this.validatedNames();
        return names.some((n) => { const l = n.toLowerCase(); return l === target || l.endsWith(`.${target}`); });
      }
      case 'exists': {
        this.countLookup();
        const target = await this.expandDomain(mech.domain, domain);
        if (!isQueryableName(target)) return false;
        return (await this.query_(() => this.dns.resolve4(target), true)).length > 0;
      }
    }
  }

  /** The one SPF record of a domain, or undefined when it has none. */
  private async lookupRecord(domain: string): Promise<string | undefined> {
    let txts: string[];
    try {
      txts = await this.dns.resolveTxt(domain);
    } catch (err) {
      if (tempOrVoid(err) === 'void') return undefined;
      throw new Abort('temperror', `DNS error looking up the SPF record of ${domain}: ${(err as Error).message}`);
    }
    const spf = txts.filter(isSpfRecord);
    if (spf.length > 1) throw new Abort('permerror', `${domain} has ${spf.length} SPF records`);
    return spf[0];
  }

  private async explain(rec: SpfRecord, domain: string): Promise<string> {
    const values = this.macroValues(domain);
    const expand = (parts: MacroPart[]) => expandMacros(parts, values, MAX_EXPLANATION, 'start');
    const fallback = async () => expand(parseMacroString(this.opts.defaultExplanation ?? DEFAULT_EXPLANATION, true) ?? []);
    if (!rec.exp) return fallback();
    try {
      const name = await this.expandDomain(rec.exp, domain);
      if (!isQueryableName(name)) return fallback();
      const txts = await this.dns.resolveTxt(name);
      if (txts.length !== 1 || !/^[\x20-\x7e]*$/.test(txts[0])) return fallback();
      const parts = parseMacroString(txts[0], true);
      return parts ? await expand(parts) : fallback();
    } catch (err) {
      if (err instanceof Abort) throw err;
      return fallback();
    }
  }

  /** Evaluates the terms of a parsed record for `domain`. */
  async evaluateRecord(rec: SpfRecord, domain: string): Promise<Decision | undefined> {
    for (const mech of rec.mechanisms) {
      if (!(await this.matches(mech, domain))) continue;
      const result = QUALIFIER_RESULT[mech.qualifier];
      const broad = result === 'pass' && (isBroadTerm(mech) || (mech.type === 'include' && this.includedBroad));
      return { result, mechanism: mech.text, explanation: result === 'fail' ? await this.explain(rec, domain) : undefined, ...(broad ? { broad } : {}) };
    }
    return undefined;
  }

  async checkDomain(domain: string): Promise<Decision> {
    const txt = await this.lookupRecord(domain);
    if (txt === undefined) return { result: 'none' };
    let rec: SpfRecord;
    try {
      rec = parseRecord(txt);
    } catch (err) {
      if (err instanceof SpfSyntaxError) throw new Abort('permerror', `${domain}: ${err.message}`);
      throw err;
    }
    const decided = await this.evaluateRecord(rec, domain);
    if (decided) return decided;
    if (rec.redirect) {
      this.countLookup();
      const target = await this.expandDomain(rec.redirect, domain);
      const r = isQueryableName(target) ? await this.checkDomain(target) : { result: 'none' as const };
      if (r.result === 'none') throw new Abort('permerror', `redirect=${target} has no SPF record`);
      return r;
    }
    return { result: 'neutral', mechanism: 'default' };
  }

  /** Evaluates extra mechanisms (local policy, best guess) for `domain` with a fresh lookup budget. */
  async evaluateText(text: string, domain: string): Promise<Decision | undefined> {
    this.lookups = 0;
    this.voidLookups = 0;
    return this.evaluateRecord(parseRecord(/^v=spf1( |$)/i.test(text) ? text : `v=spf1 ${text}`), domain);
  }
}

function errorResult(err: unknown): { result: SpfResult; problem: string } {
  if (err instanceof Abort) return { result: err.result, problem: err.message };
  if (err instanceof SpfSyntaxError) return { result: 'permerror', problem: err.message };
  return { result: 'temperror', problem: (err as Error).message };
}

/**
 * Evaluates the SPF policy of `query.domain` for `query.ip`.
 * @example
 *   const r = await checkHost({ ip: '192.0.2.1', domain: 'example.com', sender: 'a@example.com', helo: 'mx.example.com' }, { resolver });
 *   r.result // 'pass' | 'fail' | ...
 */
export async function checkHost(query: SpfQuery, opts: SpfOptions): Promise<SpfEvaluation> {
  const domain = query.domain.replace(/\.$/, '');
  const client = parseClientIp(query.ip);
  const base = { domain, lookups: 0, voidLookups: 0 };
  if (!client) return { ...base, result: 'none', problem: `not an IP address: ${query.ip}` };
  if (!isCheckableDomain(domain)) return { ...base, result: 'none', problem: `not a checkable domain: ${domain}` };
  const ev = new Evaluation(query, client, opts);
  let out: SpfEvaluation;
  try {
    const d = await ev.checkDomain(domain);
    out = { ...base, ...d, lookups: ev.lookups, voidLookups: ev.voidLookups };
  } catch (err) {
    return { ...base, ...errorResult(err), lookups: ev.lookups, voidLookups: ev.voidLookups };
  }
  if (opts.localPolicy && ['fail', 'softfail', 'neutral'].includes(out.result)) {
    try {
      const local = await ev.evaluateText(opts.localPolicy, domain);
      if (local) out = { ...out, result: local.result, mechanism: local.mechanism, explanation: local.explanation, localPolicy: true };
    } catch {
      // A broken or failing local policy leaves the domain's own result in force.
    }
  }
  if (opts.bestGuess && out.result === 'none') {
    try {
      const guess = await ev.evaluateText(opts.bestGuess, domain);
      out.guess = guess?.result ?? 'neutral';
    } catch (err) {
      out.guess = errorResult(err).result;
    }
  }
  return out;
}
