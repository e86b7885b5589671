// What a config with `dkim.arc` lacks for mail to be sealed: the seal carries the dmarc plugin's results, so without
// that plugin, or with its header off, every message leaves unsealed. Said by check-config and at start and reload.
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { s } from '../config/schema.ts';

/** A boolean option of a plugin entry as the plugin reads it (`off`, `no` too), or its default when unset or unreadable. */
function option(entry: Record<string, unknown>, key: string, byDefault: boolean): boolean {
  const value = s.boolean().default(byDefault).parse(entry[key], key, []);
  return value ?? byDefault;
}

export function arcWarnings(cfg: GatewayConfig): string[] {
  const arc = cfg.dkim?.arc;
  if (!arc) return [];
  const dmarc = (cfg.plugins ?? []).find((p) => p.name === 'dmarc') as Record<string, unknown> | undefined;
  const unsealed = 'counted in arc_unsealed{reason="no_auth_results"}';
  if (!dmarc) return [`dkim.arc: the dmarc plugin is not in plugins: no message has the gateway's results to seal, so none is sealed (${unsealed}); add { name: dmarc } to plugins`];
  const warnings: string[] = [];
  if (!option(dmarc, 'header', true)) warnings.push(`dkim.arc: the dmarc plugin's header is off: no message has the gateway's Authentication-Results to seal, so none is sealed (${unsealed})`);
  if (!option(dmarc, 'arc', true)) warnings.push(`dkim.arc: the dmarc plugin's arc is off: mail that arrives with an ARC chain has no validation of it to seal, and leaves unsealed (${unsealed})`);
  const trusted = arc.seal_for.filter((c) => c !== 'inbound');
  if (trusted.length && option(dmarc, 'skip_trusted', true)) {
    warnings.push(`dkim.arc.seal_for names ${trusted.join(' and ')}, whose mail the dmarc plugin skips (skip_trusted): it leaves unsealed (${unsealed})`);
  }
  return warnings;
}
