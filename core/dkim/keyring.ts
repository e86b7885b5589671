// The signing keys of one config generation, by domain, and which signing domain a header From belongs to.
import { domainToASCII } from 'node:url';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { readSigningKey, type SigningKey } from './key-file.ts';

type DkimConfig = GatewayConfig['dkim'];

export interface DomainKey extends SigningKey {
  /** `d=`, lower-case, in A-labels. */
  domain: string;
  selector: string;
}

/** A configured name as DNS and `d=` carry it. */
export function signingName(domain: string): string {
  const name = domain.toLowerCase().replace(/\.$/, '');
  return domainToASCII(name) || name;
}

/**
 * The signing domain of a header From domain: the domain itself when it signs, else, with `subdomains`, the nearest
 * signing domain above it. Undefined when none does.
 */
export function signingDomainOf(cfg: DkimConfig, fromDomain: string): string | undefined {
  const names = new Set(Object.keys(cfg.domains).map(signingName));
  let name = signingName(fromDomain);
  if (names.has(name)) return name;
  if (!cfg.subdomains) return undefined;
  for (let dot = name.indexOf('.'); dot > 0; dot = name.indexOf('.')) {
    name = name.slice(dot + 1);
    if (names.has(name)) return name;
  }
  return undefined;
}

/** The selector `domain` signs with under `cfg` (the log names it before the message leaves). */
export function selectorOf(cfg: DkimConfig, domain: string): string | undefined {
  return Object.entries(cfg.domains).find(([d]) => signingName(d) === domain)?.[1].selector;
}

/**
 * Reads every configured key. The config check parsed them already; a file that changed since is named in
 * `problems`, with its domain, and that domain left unsigned, rather than a reload left half done.
 */
export function loadKeyring(cfg: DkimConfig): { keys: Map<string, DomainKey>; problems: Array<{ domain: string; error: string }> } {
  const keys = new Map<string, DomainKey>();
  const problems: Array<{ domain: string; error: string }> = [];
  for (const [name, d] of Object.entries(cfg.domains)) {
    const domain = signingName(name);
    try {
      keys.set(domain, { ...readSigningKey(d.key_file), domain, selector: d.selector });
    } catch (e) { problems.push({ domain, error: (e as Error).message }); }
  }
  return { keys, problems };
}
