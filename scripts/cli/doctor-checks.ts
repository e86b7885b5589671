// The checks `moat doctor` runs besides clamd's: the data folder, the state store, the DNS resolver, the smarthosts.
// Each says what the gateway would do meanwhile, since that is what an admin must decide on.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DoctorCheck, CheckLine } from './doctor.ts';
import type { LoadedConfig } from '../../core/config/load.ts';
import { createResolver } from '../../core/dns/index.ts';
import { dnsOutageMeanwhile, dnsUse } from '../../core/plugin/dns-users.ts';
import { DnsError } from '../../core/dns/types.ts';
import { RouteTable, type Route } from '../../core/relay/routes.ts';
import { routeTarget } from '../../core/relay/make-relay.ts';
import { smarthostTarget, type SmarthostTarget } from '../../core/relay/smarthost.ts';
import { SmtpClientError, SmtpConnection } from '../../core/relay/smtp-client.ts';
import { ownListenerAt, ownListeners, type OwnListener } from '../../core/relay/own-listeners.ts';
import { redactUrl } from '../../core/log/logger.ts';
import { persistenceLine, readPersistence } from './redis-persistence.ts';
import { walkDataDir, type AccessProblem } from '../../core/queue/data-dir-walk.ts';
import { chownFix } from '../../core/queue/data-dir-access.ts';
import { ownerForRoot } from '../../core/queue/ownership.ts';
import { findUnverified } from '../../core/queue/broken-messages.ts';
import { SET_ASIDE_DIR, setAsideItems } from '../../core/queue/set-aside.ts';

/** Free space under which the queue is close to answering 452 4.3.1 to every client. */
const LOW_SPACE_BYTES = 1024 ** 3;

const mib = (n: number) => `${Math.round(n / 1024 ** 2).toLocaleString('en')} MB`;

/** The nearest folder above `dir` that exists: the start creates every missing one below it at once (mkdir -p). */
function nearestExisting(dir: string): string {
  let at = path.dirname(dir);
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}

/** What the start makes of a data_dir that does not exist: it creates it and the folders missing above it. */
function missingDataDir(dir: string): CheckLine {
  const base = nearestExisting(dir);
  if (!fs.statSync(base).isDirectory()) return { status: 'fail', text: `${dir} does not exist and ${base} is not a folder: the gateway cannot start` };
  try { fs.accessSync(base, fs.constants.W_OK | fs.constants.X_OK); } catch {
    return { status: 'fail', text: `${dir} does not exist and ${base} is not writable: the gateway cannot start` };
  }
  const top = path.join(base, path.relative(base, dir).split(path.sep)[0]);
  return { status: 'ok', text: `${dir} does not exist yet; the gateway creates it${top === dir ? '' : `, from ${top} down`}` };
}

/** Files and folders of more than this many problems are summed up, not named. */
const PROBLEMS_NAMED = 10;

/**
 * What inside data_dir the gateway's user cannot use: a top folder it owns says nothing of the files below it after a
 * restore as root, and the start (or the message) then fails on one of them.
 */
function contentsLines(dir: string): CheckLine[] {
  const walked = walkDataDir(dir, { maxProblems: PROBLEMS_NAMED });
  if (!walked.problems.length) return [];
  // Owned by the right account, a file is mended by its mode: a chown would change nothing.
  const uid = ownerForRoot(fs.statSync(dir).uid) ?? process.getuid?.();
  const ownedRight = (p: AccessProblem) => { try { return fs.lstatSync(p.path).uid === uid; } catch { return false; } };
  const modeOnly = walked.problems.filter(ownedRight);
  const lines: CheckLine[] = walked.problems.map((p) => ({ status: 'fail', text: `${p.path}: ${p.why}` }));
  const more = walked.cut ? ` (the first ${walked.problems.length}; the walk stopped there)` : '';
  const fixes = [
    ...(modeOnly.length < walked.problems.length ? [`\`${chownFix(dir, walked.account)}\``] : []),
    ...(modeOnly.length ? [`\`chmod -R u+rwX ${dir}\``] : []),
  ];
  lines.push({ status: 'fail', text: `${dir} holds files or folders ${walked.account} cannot use${more}: the gateway cannot start or deliver them; run ${fixes.join(' and ')}` });
  return lines;
}

/**
 * Queue files the gateway does not deliver as they are: sealed under another queue.key (or with it missing) before a
 * start, and what a start set aside in data_dir/corrupt (core/queue/set-aside.ts). Acknowledged mail, so a failure.
 */
async function queueFileLines(dir: string): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  const named = <T>(items: T[], line: (item: T) => string, summary: string) => {
    for (const item of items.slice(0, PROBLEMS_NAMED)) lines.push({ status: 'fail', text: line(item) });
    if (items.length) lines.push({ status: 'fail', text: `${summary}${items.length > PROBLEMS_NAMED ? ` (the first ${PROBLEMS_NAMED} named)` : ''}` });
  };
  let unverified: Awaited<ReturnType<typeof findUnverified>>;
  try {
    unverified = await findUnverified(dir);
  } catch (err) {
    // A queue.key or queue file this user may not read is named by the walk above, with the chown that mends it.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') lines.push({ status: 'fail', text: `the queue files could not be checked against queue.key: ${(err as Error).message}` });
    unverified = [];
  }
  named(unverified, (b) => `${b.path}: ${b.reason}`, `${unverified.length} queue file(s) that queue.key does not verify: a start sets them aside in ${path.join(dir, SET_ASIDE_DIR)}, or refuses to run without queue.key`);
  const aside = setAsideItems(dir);
  named(aside, (item) => `${item.path}: ${item.reason}`, `${aside.length} file(s) set aside in ${path.join(dir, SET_ASIDE_DIR)}: acknowledged mail the gateway does not deliver until they are mended (README, "Backup")`);
  return lines;
}

export const dataDirCheck: DoctorCheck = {
  name: 'data_dir',
  async run({ config }) {
    const dir = config.data_dir;
    if (!fs.existsSync(dir)) return [missingDataDir(dir)];
    if (!fs.statSync(dir).isDirectory()) return [{ status: 'fail', text: `${dir} is not a folder: the gateway cannot start` }];
    try { fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK); } catch {
      return [{ status: 'fail', text: `${dir} is not writable by this user (uid ${process.getuid?.()}): nothing can be queued` }];
    }
    const inside = [...contentsLines(dir), ...await queueFileLines(dir)];
    const st = await fs.promises.statfs(dir);
    const free = st.bavail * st.bsize;
    const share = st.blocks ? free / (st.blocks * st.bsize) : 1;
    const text = `${dir}: ${mib(free)} free (${(share * 100).toFixed(1)}%)`;
    if (free < LOW_SPACE_BYTES) return [{ status: 'warn', text: `${text}; a full disk makes every message wait (452 4.3.1)` }, ...inside];
    return [{ status: 'ok', text }, ...inside];
  },
};

export const stateStoreCheck: DoctorCheck = {
  name: 'state store',
  async run({ config }) {
    if (config.state.backend !== 'redis') return [{ status: 'ok', text: `embedded, under ${path.join(config.data_dir, 'state')}` }];
    // Loaded only when chosen, as the gateway does.
    const { RedisStore } = await import('../../core/store/redis-store.ts');
    const where = redactUrl(config.state.redis.url);
    const t0 = performance.now();
    try {
      const store = await RedisStore.connect(config.state.redis.url, { prefix: config.state.redis.prefix });
      const ms = Math.round(performance.now() - t0);
      await store.close();
      const kept = persistenceLine(where, await readPersistence(config.state.redis.url));
      return [{ status: 'ok', text: `redis at ${where} answers in ${ms} ms` }, ...(kept ? [kept] : [])];
    } catch (err) {
      const message = (err as Error).message;
      // A refused login is the config's fault, which the message says how to fix, not an outage the gateway rides out.
      const then = /refused the login/.test(message) ? '' : ' (the gateway starts anyway; greylisting follows on_store_error and Bayes learns nothing until it answers)';
      return [{ status: 'fail', text: `${message}${then}` }];
    }
  },
};

export const dnsCheck: DoctorCheck = {
  name: 'dns',
  async run({ config }) {
    const servers = config.dns.servers.length ? config.dns.servers.join(', ') : 'the system resolvers';
    // A resolver that does not answer only matters to what asks it: a gateway without any of that passes its mail on.
    const use = await dnsUse(config);
    if (!use) return [{ status: 'ok', text: `not checked: nothing in the config uses ${servers} (no plugin that looks names up, no route via mx)` }];
    const domain = config.domains[0];
    if (!domain) return [{ status: 'ok', text: `${servers}; no domain configured to look up` }];
    const resolver = createResolver({ ...config.dns, cache_size: 0 });
    const t0 = performance.now();
    try {
      const mx = await resolver.resolveMx(domain);
      const ms = Math.round(performance.now() - t0);
      const hosts = mx.sort((a, b) => a.priority - b.priority).map((m) => `${m.exchange} (${m.priority})`).join(', ');
      return [{ status: 'ok', text: `${servers} answer in ${ms} ms: MX of ${domain}: ${hosts || 'none'}` }];
    } catch (err) {
      const ms = Math.round(performance.now() - t0);
      if (err instanceof DnsError && (err.code === 'NXDOMAIN' || err.code === 'NODATA')) {
        return [{ status: 'ok', text: `${servers} answer in ${ms} ms: ${domain} has no MX record (${err.code})` }];
      }
      return [{ status: 'fail', text: `${servers}: MX of ${domain}: ${(err as Error).message} (meanwhile ${dnsOutageMeanwhile(use)})` }];
    }
  },
};

/**
 * Connects, greets, and does what a delivery would before its first MAIL FROM (STARTTLS, AUTH), then quits; says
 * what such a session gave up on (a certificate that does not verify under opportunistic TLS, TLS given up after a
 * failed handshake, credentials not used because the server offers no AUTH).
 */
async function probe(name: string, target: SmarthostTarget, heloName: string, own: readonly OwnListener[]): Promise<CheckLine> {
  // Not connected to: the gateway may be stopped now, and what answers there once it runs is itself.
  const listener = ownListenerAt(target.host, target.port, own, [heloName]);
  if (listener) return { status: 'fail', text: `${name} ${target.display} is this gateway's own listener (${listener.key} ${listener.address}): mail for it would loop back, and bounces with 5.4.6` };
  const t0 = performance.now();
  try {
    const c = await SmtpConnection.open({ ...target, heloName });
    const ms = Math.round(performance.now() - t0);
    const cert = c.certificate;
    const tls = !cert ? 'no TLS' : cert.verified ? 'TLS, certificate verified' : `TLS, certificate not verified (${cert.error ?? 'not checked'})`;
    const auth = c.authenticated ? `, AUTH as ${target.user} accepted` : '';
    const notes = c.warnings.map((w) => `; ${w}`).join('');
    await c.quit();
    return { status: c.warnings.length ? 'warn' : 'ok', text: `${name} ${target.display} ready in ${ms} ms (${tls}${auth})${notes}` };
  } catch (err) {
    // The server's own words too (a 535 says which credentials it refused and why).
    const reply = err instanceof SmtpClientError && err.reply ? `: ${err.reply.code} ${err.reply.text.replace(/\n/g, ' ')}` : '';
    // A next hop that names itself as the gateway does: mail for it bounces at once, rather than wait for a retry.
    const meanwhile = err instanceof SmtpClientError && err.loopsBack
      ? `mail for it bounces with 5.4.6 loops back to myself; give that server a hostname other than ${heloName}`
      : 'mail for it waits in the queue and is retried';
    return { status: 'fail', text: `${name} ${target.display}: ${(err as Error).message}${reply} (${meanwhile})` };
  }
}

export const smarthostCheck: DoctorCheck = {
  name: 'smarthost',
  async run({ config }) {
    const heloName = config.server.hostname || os.hostname();
    const own = ownListeners(config.server);
    const lines: CheckLine[] = [];
    const main = smarthostTarget(config.smarthost);
    if (main) lines.push(await probe('smarthost', main, heloName, own));
    else lines.push({ status: 'ok', text: `none: accepted mail is written to ${path.join(config.data_dir, 'delivered')}` });
    const perDestination = config.queue.max_per_destination;
    for (const route of new RouteTable(config.routes).all()) {
      if (route.via === 'smarthost') lines.push(await probe(`route ${route.key}:`, routeTarget(route as Route & { via: 'smarthost' }, perDestination), heloName, own));
      else if (route.via === 'mx') lines.push({ status: 'ok', text: `route ${route.key}: to the domain's MX hosts` });
    }
    return lines;
  },
};
