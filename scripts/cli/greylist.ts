// `moat greylist list|allow|purge`: looks at and edits the greylist entries in the gateway's state store.
import net from 'node:net';
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';
import { loadConfig } from '../../core/config/load.ts';
import { pluginOptions, type EntryLike } from '../../core/plugin/loader.ts';
import { validate } from '../../core/config/schema.ts';
import { parseDuration, formatDuration } from '../../core/config/units.ts';
import { openStore } from '../../core/store/index.ts';
import type { StateStore } from '../../core/store/types.ts';
import { configSchema, MAX_DURATION_MS, type GreylistConfig } from '../../plugins/greylist/config.ts';
import { clientNetwork, normaliseSender } from '../../plugins/greylist/address.ts';
import { normalizeIp } from '../../core/net/cidr.ts';
import { Greylister, clientOfPassesKey, KEY_PREFIX, PASS, PASSES, WAIT, type PassEntry, type WaitEntry } from '../../plugins/greylist/greylister.ts';

const USAGE = `usage: moat greylist <command> [--config FILE] [--set KEY=VALUE]… [--json]

  list [--waiting | --passed]          entries: waiting triplets and remembered triplets/clients
       [--client <ip|cidr>]            only those of clients within this address or range
  allow <ip|cidr> [sender rcpt]        remember a client (or one triplet) as passed: an address
                                       stands for its network (ipv4_mask/ipv6_mask), an
                                       address/32 (/128) for itself alone
        [--for DURATION]               for this long (default: the plugin's remember; at most 36500d)
  purge                                delete expired entries now
  purge --all                          delete every greylist entry
  purge --client <ip|cidr>             delete the entries of one client network
                                       (--all and --client also reset the auto_allow_after counts)

The store is the one the gateway uses (state: in the config); the masks and durations
come from the config's greylist entry. Exit code: 0 done, 1 failed, 64 usage or config error.`;

class UsageError extends Error {}

export interface ListedEntry {
  state: 'waiting' | 'passed';
  client: string;
  sender?: string;
  rcpt?: string;
  /** First attempt (ms since the epoch), when known. */
  first?: number;
  passed?: number;
  last?: number;
  by?: string;
  /** When the entry expires (ms since the epoch), null without expiry. */
  expires: number | null;
  key: string;
}

/** The greylist entry of the config (defaults when there is none). */
function greylistOptions(plugins: readonly EntryLike[]): GreylistConfig {
  const entry = plugins.find((p) => p.name === 'greylist');
  const { value, issues } = validate(configSchema, entry ? pluginOptions(entry) : {});
  if (issues.length) throw new UsageError(`greylist options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return value;
}

/** Every greylist entry of the store, oldest first. */
export async function listEntries(store: StateStore): Promise<ListedEntry[]> {
  const out: ListedEntry[] = [];
  for await (const [key, raw] of store.scan(KEY_PREFIX)) {
    let v: Partial<WaitEntry & PassEntry>;
    try { v = JSON.parse(raw); } catch { continue; }
    const ttl = await store.ttl(key);
    if (ttl === -2) continue;
    const state = key.startsWith(WAIT) ? 'waiting' : key.startsWith(PASS) ? 'passed' : undefined;
    if (!state) continue;
    out.push({
      state, client: v.client ?? '?', sender: v.sender, rcpt: v.rcpt, first: v.first, passed: v.passed, last: v.last, by: v.by,
      expires: ttl === -1 ? null : Date.now() + ttl, key,
    });
  }
  return out.sort((a, b) => (a.first ?? a.passed ?? 0) - (b.first ?? b.passed ?? 0));
}

interface Cidr { ip: string; bits: number; v6: boolean }

/** `192.0.2.7` or `192.0.2.0/24` (IPv4 or IPv6), checked: a typo must not write a key no client ever matches. */
function parseCidr(arg: string): Cidr {
  const [addr, bits, extra] = arg.split('/');
  const ip = normalizeIp(addr);
  const v6 = net.isIPv6(ip);
  if (!net.isIPv4(ip) && !v6) throw new UsageError(`not an IP address or CIDR: ${arg}`);
  const max = v6 ? 128 : 32;
  if (extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
    throw new UsageError(`not an IP address or CIDR: ${arg} (the prefix length is 0-${max})`);
  }
  return { ip, bits: bits === undefined ? max : Number(bits), v6 };
}

const maskOf = (c: Cidr, cfg: GreylistConfig) => (c.v6 ? cfg.ipv6_mask : cfg.ipv4_mask);

/** What `allow` writes: the key's client (`addr/bits`), and a note for the admin when that is not literally what was given. */
interface AllowTarget { client: string; note?: string }

/**
 * The client entry `allow` writes. The gateway looks a client up by its configured network and by its own address, so
 * an address with `/32` (`/128`) is allowed alone, and a network must be exactly the configured one (a /16 would never
 * match). An address without a prefix stands for its network, as the greylist sees the client; the note says so. A
 * triplet is kept under its network only, so one address cannot be given for it.
 */
function allowTarget(arg: string, cfg: GreylistConfig, triplet: boolean): AllowTarget {
  const c = parseCidr(arg);
  const mask = maskOf(c, cfg);
  const max = c.v6 ? 128 : 32;
  const maskKey = c.v6 ? 'ipv6_mask' : 'ipv4_mask';
  const network = clientNetwork(c.ip, cfg.ipv4_mask, cfg.ipv6_mask);
  const host = clientNetwork(c.ip, 32, 128);
  const explicit = arg.includes('/');
  if (explicit && c.bits === max && mask !== max) {
    if (triplet) {
      throw new UsageError(`${arg}: a triplet is remembered by its client network (${maskKey} ${mask}), so it cannot be allowed for one address; give ${c.ip} or ${network} to allow it for ${network}, or allow ${arg} without a sender and recipient`);
    }
    return { client: host };
  }
  if (explicit && c.bits !== mask) {
    throw new UsageError(`${arg}: clients are remembered by /${mask} networks (${maskKey}); give that network (${network}), one address as ${host}, or list other ranges in skip_ips`);
  }
  if (!explicit && mask !== max) {
    return { client: network, note: `${arg} stands for its client network ${network} (${maskKey} ${mask})${triplet ? '' : `; give ${host} to allow that address alone`}` };
  }
  return { client: network };
}

/** The CIDR an admin named (an address without a prefix standing for its configured network, as in `allow`), and a
 * test for the stored clients (`addr/bits`: networks, and addresses allowed alone) that lie inside it. */
function networksInside(arg: string, cfg: GreylistConfig): { label: string; inside: (client: string) => boolean } {
  const c = parseCidr(arg);
  const bits = arg.includes('/') ? c.bits : maskOf(c, cfg);
  const list = new net.BlockList();
  list.addSubnet(c.ip, bits, c.v6 ? 'ipv6' : 'ipv4');
  const inside = (client: string) => {
    const [ip, b] = client.split('/');
    const v6 = net.isIPv6(ip);
    return (v6 || net.isIPv4(ip)) && Number(b) >= bits && list.check(ip, v6 ? 'ipv6' : 'ipv4');
  };
  return { label: clientNetwork(c.ip, bits, bits), inside };
}

const iso = (ms?: number | null) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

function printList(entries: ListedEntry[]): void {
  if (!entries.length) { console.log('no greylist entries'); return; }
  for (const e of entries) {
    const who = e.sender !== undefined ? `${e.client} ${e.sender} -> ${e.rcpt}` : `${e.client} (any sender, any recipient)`;
    const when = e.state === 'waiting' ? `first ${iso(e.first)}` : `passed ${iso(e.passed)}${e.by && e.by !== 'retry' ? ` by ${e.by}` : ''}`;
    console.log(`${e.state.padEnd(7)}  ${who}  ${when}  expires ${iso(e.expires)}`);
  }
  const waiting = entries.filter((e) => e.state === 'waiting').length;
  console.log(`${entries.length} entries: ${waiting} waiting, ${entries.length - waiting} passed`);
}

/** What purge removed: entries, and auto_allow_after counts (`greylist:passes:<net>`). */
interface Purged { removed: number; counters: number; what: string }

async function purge(store: StateStore, values: { all?: boolean; client?: string }, cfg: GreylistConfig): Promise<Purged> {
  if (!values.all && !values.client) return { removed: await store.purgeExpired(), counters: 0, what: 'expired entries (the whole store)' };
  const only = values.client ? networksInside(values.client, cfg) : undefined;
  let removed = 0;
  for (const e of await listEntries(store)) {
    if (only && !only.inside(e.client)) continue;
    await store.del(e.key);
    removed++;
  }
  // A network's count goes with its entries: left behind, it was past auto_allow_after for good, and the network was
  // never allowed again (the allow is written when the count reaches it).
  let counters = 0;
  for await (const [key] of store.scan(PASSES)) {
    if (only && !only.inside(clientOfPassesKey(key))) continue;
    await store.del(key);
    counters++;
  }
  return { removed, counters, what: only ? `entries of ${only.label}` : 'greylist entries' };
}

/** The options each command takes, beside --config, --set and --json. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  list: ['waiting', 'passed', 'client'],
  allow: ['for'],
  purge: ['all', 'client'],
};

/**
 * What is wrong with the command line for `command`, if anything: an option of another command or a stray argument
 * was ignored before, so `list 10.1.2.3` listed everything and `purge 10.1.2.3` purged the expired entries only.
 */
function commandLineProblem(command: string, values: Record<string, unknown>, rest: readonly string[]): string | undefined {
  const allowed = new Set(['config', 'set', 'json', 'help', ...COMMAND_OPTIONS[command]]);
  const foreign = Object.keys(values).filter((k) => !allowed.has(k));
  if (foreign.length) return `${command} does not take ${foreign.map((k) => `--${k}`).join(', ')}`;
  if (command === 'list' && values.waiting && values.passed) return 'list: give --waiting or --passed, not both (without either, both are listed)';
  if (command === 'purge' && values.all && values.client !== undefined) return 'purge: give --all or --client, not both';
  if (command === 'allow' && rest.length !== 1 && rest.length !== 3) return 'allow takes an IP or CIDR, optionally followed by a sender and a recipient';
  if (command !== 'allow' && rest.length) {
    const client = command === 'purge' ? `; for one client's entries: moat greylist purge --client ${rest[0]}` : `; for one client's: moat greylist list --client ${rest[0]}`;
    return `${command} takes no argument, got ${rest.join(' ')}${client}`;
  }
  return undefined;
}

/** The --for of allow in ms, capped as the plugin caps its durations (the store's expiry arithmetic overflows beyond). */
function allowFor(given: string | undefined, cfg: GreylistConfig): number {
  if (given === undefined) return cfg.remember;
  const ms = parseDuration(given);
  if (!ms) throw new UsageError(`--for: expected a duration such as 35d, got ${given}`);
  if (ms > MAX_DURATION_MS) throw new UsageError(`--for: at most 36500d, got ${given}`);
  return ms;
}

export async function run(args: string[]): Promise<number> {
  const parsed = readCommand(args, {
    ...CONFIG_OPTIONS, json: { type: 'boolean' },
    waiting: { type: 'boolean' }, passed: { type: 'boolean' }, for: { type: 'string' },
    all: { type: 'boolean' }, client: { type: 'string' },
  }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!command) { console.log(USAGE); return USAGE_ERROR; }
  if (!['list', 'allow', 'purge'].includes(command)) { console.error(`unknown command ${command}\n\n${USAGE}`); return USAGE_ERROR; }
  const problem = commandLineProblem(command, values, rest);
  if (problem) { console.error(`${problem}\n\n${USAGE}`); return USAGE_ERROR; }

  let store: StateStore | undefined;
  try {
    const { config } = await loadConfig({ file: values.config, overrides: values.set ?? [] });
    const cfg = greylistOptions(config.plugins as EntryLike[]);
    store = await openStore({ ...config.state, purge_interval: 0 }, config.data_dir);

    if (command === 'list') {
      const only = values.client !== undefined ? networksInside(values.client, cfg) : undefined;
      let entries = await listEntries(store);
      if (only) entries = entries.filter((e) => only.inside(e.client));
      if (values.waiting) entries = entries.filter((e) => e.state === 'waiting');
      if (values.passed) entries = entries.filter((e) => e.state === 'passed');
      if (values.json) console.log(JSON.stringify(entries, null, 2));
      else printList(entries);
      return 0;
    }

    if (command === 'allow') {
      const remember = allowFor(values.for, cfg);
      const triplet = rest.length === 3;
      const { client, note } = allowTarget(rest[0], cfg, triplet);
      const g = new Greylister(store, { delay: cfg.delay, retryWindow: cfg.retry_window, remember, rememberBy: triplet ? 'triplet' : 'client' });
      const t = {
        client,
        sender: triplet ? normaliseSender(rest[1] === '<>' ? '' : rest[1], { stripTags: cfg.strip_sender_tags, delimiters: cfg.recipient_delimiter }) : '',
        rcpt: triplet ? rest[2].toLowerCase() : '',
      };
      await g.remember(t, undefined, Date.now(), 'admin');
      const what = triplet ? `${t.client} ${t.sender} -> ${t.rcpt}` : t.client;
      if (note) console.error(`note: ${note}`);
      if (values.json) console.log(JSON.stringify({ allowed: what, for_ms: remember }));
      else console.log(`allowed ${what} for ${formatDuration(remember)}`);
      return 0;
    }

    const { removed, counters, what } = await purge(store, values, cfg);
    if (values.json) console.log(JSON.stringify({ removed, counters }));
    else console.log(`removed ${removed} ${what}${counters ? ` and ${counters} auto_allow_after ${counters === 1 ? 'count' : 'counts'}` : ''}`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'GW_ERR_CONFIG_INVALID') {
      console.error((err as Error).message);
      return USAGE_ERROR;
    }
    console.error(`moat greylist ${command}: ${(err as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}
