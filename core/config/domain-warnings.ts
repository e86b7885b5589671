// Warnings (never errors) about a domain the config names in one place and not another: each such config starts and
// serves, and fails only for the mail of that domain, with no word in the log (`moat check-config`, each reload).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GatewayConfig } from './gateway-schema.ts';
import { comparableDomain } from '../text/idn-address.ts';
import { readRecipientEntries } from '../lists/recipient-table.ts';

/** The local domains, each in the one form every spelling of it shares. */
export function localDomainSet(config: Pick<GatewayConfig, 'domains'>): Set<string> {
  return new Set((Array.isArray(config.domains) ? config.domains : []).filter((d) => typeof d === 'string').map(comparableDomain));
}

/** Whether `name` is local: exactly, or, for a `.parent` name (routes, rules), any local domain at or under it. */
function isCovered(name: string, local: Set<string>): boolean {
  const d = comparableDomain(name.replace(/^\*\./, '.'));
  if (!d.startsWith('.')) return local.has(d);
  return [...local].some((l) => l === d.slice(1) || l.endsWith(d));
}

/**
 * Whether any client may send mail to other domains through the gateway: relay.networks, or an AUTH user. Only then
 * does a rule for a domain outside `domains` ever see mail.
 */
function someoneRelays(config: GatewayConfig): boolean {
  if ((config.relay?.networks ?? []).length > 0) return true;
  const file = config.auth?.users_file || (typeof config.data_dir === 'string' ? path.join(config.data_dir, 'users') : '');
  try { return /^[^#\s][^:\s]*:/m.test(readFileSync(file, 'utf8')); } catch { return false; }
}

/** The domains of `rules` criteria `to: { domain: … }`, anywhere in a rule's `when` (under not, any, all). */
function ruleToDomains(node: unknown, underTo = false, out: string[] = []): string[] {
  if (Array.isArray(node)) { for (const x of node) ruleToDomains(x, underTo, out); return out; }
  if (typeof node !== 'object' || node === null) return out;
  for (const [key, value] of Object.entries(node)) {
    if (underTo && key === 'domain') out.push(...[value].flat().filter((d): d is string => typeof d === 'string'));
    else ruleToDomains(value, underTo || key === 'to', out);
  }
  return out;
}

const NO_RELAY = 'and no client may relay (relay.networks is empty and there is no AUTH user), so no mail for it is ever accepted';

/** Each domain outside `domains` that a bayes recipient dictionary or a rules `to` criterion names, with where. */
function pluginDomainWarnings(config: GatewayConfig, local: Set<string>, relays: boolean): string[] {
  const out: string[] = [];
  (Array.isArray(config.plugins) ? config.plugins : []).forEach((entry, i) => {
    const options = entry as unknown as Record<string, unknown>;
    if (entry?.name === 'bayes' && Array.isArray(options.recipient_dictionaries)) {
      options.recipient_dictionaries.forEach((dict: { recipients?: unknown }, j) => {
        (Array.isArray(dict?.recipients) ? dict.recipients : []).forEach((r: unknown, k) => {
          const domain = typeof r === 'string' ? r.slice(r.lastIndexOf('@') + 1) : '';
          if (domain && !isCovered(domain, local)) {
            out.push(`plugins[${i}].recipient_dictionaries[${j}].recipients[${k}]: ${JSON.stringify(domain)} is not in domains: mail from outside to it is refused, so this dictionary sees none of it`);
          }
        });
      });
    }
    if (entry?.name === 'rules' && Array.isArray(options.rules) && !relays) {
      options.rules.forEach((rule: { name?: unknown; when?: unknown }, j) => {
        for (const domain of new Set(ruleToDomains(rule?.when))) {
          if (!isCovered(domain, local)) out.push(`plugins[${i}].rules[${j}] (${String(rule?.name)}): to: { domain: ${JSON.stringify(domain)} } is not in domains ${NO_RELAY}; the rule never holds for it`);
        }
      });
    }
  });
  return out;
}

/** Each local domain with no address in access.recipients_file: every recipient at it gets 550 5.1.1. */
function recipientsFileWarnings(config: GatewayConfig): string[] {
  const file = config.access?.recipients_file;
  if (!file) return [];
  let listed: Set<string>;
  // A file that cannot be read is an error of its own, reported by the schema's check.
  try { listed = new Set(readRecipientEntries(file).map((e) => comparableDomain(e.slice(e.lastIndexOf('@') + 1)))); } catch { return []; }
  return config.domains.flatMap((d, i) => listed.has(comparableDomain(d)) ? [] : [
    `domains[${i}]: ${JSON.stringify(d)} has no address in access.recipients_file (${file}): every recipient at it gets 550 5.1.1 User unknown; add its addresses, or @${d} for all of them`,
  ]);
}

/** Every warning about a domain named in one place of `config` and missing from another. */
export function domainWarnings(config: GatewayConfig): string[] {
  if (!Array.isArray(config.domains)) return [];
  const local = localDomainSet(config);
  const relays = someoneRelays(config);
  const out: string[] = [];
  // Routes are not judged: one for a domain outside `domains` also carries the gateway's own mail there (notices to
  // senders, rule copies, digests), with or without clients that relay.
  (config.quarantine_digest?.domains ?? []).forEach((d, i) => {
    if (!isCovered(d, local)) out.push(`quarantine_digest.domains[${i}]: ${JSON.stringify(d)} is not in domains: mail from outside to it is refused, so its recipients have nothing quarantined to be told of`);
  });
  // dkim.domains is not judged: a domain this gateway only signs for usually receives its mail elsewhere.
  out.push(...pluginDomainWarnings(config, local, relays), ...recipientsFileWarnings(config));
  return out;
}
