// `moat quarantine digest`: send each recipient the digest of their quarantined mail now (or show what it would list).
// Through the running gateway when there is one, which queues the digests and delivers them at once; without one,
// the digests are queued on the files under queue.lock, as `moat queue` edits them, and go at the gateway's next start.
// `moat quarantine revoke ADDRESS`: end every quarantine link mailed to that address so far (a forwarded or leaked
// digest), written to data_dir/quarantine-revoked.json, which a running gateway reads again at the next link.
import { chownSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';
import { ConfigError, loadConfig } from '../../core/config/load.ts';
import { QueueStore } from '../../core/queue/queue-store.ts';
import { ControlClient, gatewayStatus, queueActions } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { forTerminal } from '../../core/queue/inspect.ts';
import { runDigest, type DigestDeps, type DigestOptions, type DigestReport } from '../../core/quarantine/digest.ts';
import { DIGEST_STATE_FILE } from '../../core/quarantine/digest-state.ts';
import { DIGEST_ITEMS_MAX } from '../../core/quarantine/digest-mail.ts';
import { mailboxOf, recipientDelimiters } from '../../core/quarantine/mailbox.ts';
import { REVOCATIONS_FILE, revokeAddress } from '../../core/quarantine/revocations.ts';
import { dateText, scoreText } from '../../core/quarantine/summary.ts';

const USAGE = `usage: moat quarantine digest [--config FILE] [--set KEY=VALUE]… [--all] [--dry-run] [--to ADDRESS] [--json]
       moat quarantine revoke [--config FILE] [--set KEY=VALUE]… [--json] ADDRESS

  digest      mail each recipient in the local domains (quarantine_digest.domains) a list of the messages held
              for them in the quarantine since the last digest, with release and delete links when
              quarantine_digest.link_base is set; it is queued and relayed like any mail
    --all       list everything held, not only what arrived since the last digest
    --dry-run   print every message each digest would cover (a digest lists the newest ${DIGEST_ITEMS_MAX}); queue
                nothing, keep the time of the last digest
    --to ADDR   only this recipient's digest (the time of the last digest is kept)
  revoke      end every quarantine link issued for ADDRESS until now (its digests' Release, Delete and own-page
              links; with the user-lists plugin's recipient_delimiter, ADDRESS's tagged forms too): for a digest that
              was forwarded or leaked. Links of later digests work. Kept in data_dir/${REVOCATIONS_FILE}, which a
              running gateway reads again at the next link, and logs (quarantine links revoked)

A run that a stop, a crash or a failure to queue cut short is resumed by the next run (without --all or --to): the
same period, for the recipients not served yet.

With a gateway running on the data_dir the digest goes through its control socket and uses its config; without
one it is queued on the files (under data_dir/queue.lock) and delivered at the gateway's next start.
Exit code: 0 done, 1 an error (a digest that could not be queued), 64 usage error.`;

const OPTIONS = { ...CONFIG_OPTIONS, all: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, to: { type: 'string' }, json: { type: 'boolean' } } as const;

class UsageError extends Error {}

function printReport(r: DigestReport): void {
  const period = r.since === null ? 'everything held' : `since ${dateText(r.since)}`;
  if (r.resumed) console.log(`a digest run was cut short: ${r.resumed} recipient(s) of its period had theirs; ${r.dryRun ? 'the next run sends' : 'this run sent'} the rest`);
  if (!r.digests.length) { console.log(r.resumed ? 'no other recipient is left in its period' : `no recipient has quarantined mail (${period})`); return; }
  for (const d of r.digests) {
    const to = forTerminal(d.to);
    const newest = d.messages > DIGEST_ITEMS_MAX ? `; the digest lists the newest ${DIGEST_ITEMS_MAX}` : '';
    if (d.error) console.log(`<${to}>: ${d.messages} message(s): NOT queued: ${forTerminal(d.error)}`);
    else if (r.dryRun) console.log(`<${to}>: ${d.messages} message(s) held (${period})${newest}`);
    else console.log(`<${to}>: ${d.messages > DIGEST_ITEMS_MAX ? `${d.messages} message(s), the newest ${DIGEST_ITEMS_MAX}` : `${d.messages} message(s)`} listed, digest queued as ${d.queueId}`);
    for (const m of d.listed ?? []) console.log(`    ${m.id}  ${dateText(m.receivedAt)}  score ${scoreText(m.score)}  ${forTerminal(m.sender)}  ${forTerminal(m.subject)}`);
  }
}

/** Files this command may create in data_dir, given to data_dir's owner when root runs it (the gateway must read them). */
function returnOwnership(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  const owner = statSync(dataDir);
  if (owner.uid === 0) return;
  for (const f of ['quarantine.key', DIGEST_STATE_FILE, REVOCATIONS_FILE]) {
    try { chownSync(path.join(dataDir, f), owner.uid, owner.gid); } catch { /* not made by this run */ }
  }
}

/** The config and its data_dir, which must hold a gateway's queue. */
async function gatewayData(o: { config?: string; set?: string[] }) {
  const { config } = await loadConfig({ file: o.config, overrides: o.set ?? [] });
  const dataDir = config.data_dir;
  if (!existsSync(path.join(dataDir, 'queue.key')) && !existsSync(path.join(dataDir, 'queue'))) throw new Error(`${dataDir} holds no queue (no queue.key): is it the gateway's data_dir?`);
  return { config, dataDir };
}

/** An address given on the command line (in angle brackets or not), or undefined when none was. */
function addressArg(given: string | undefined, what: string): string | undefined {
  const address = given?.trim().replace(/^<(.*)>$/, '$1');
  if (address !== undefined && !/^[^@\s]+@[^@\s]+$/.test(address)) throw new UsageError(`${what} takes an address, not ${JSON.stringify(given)}`);
  return address;
}

/** `revoke ADDRESS`: the revocation written, and what it covers. */
async function revoke(o: { config?: string; set?: string[] }, given: string): Promise<{ address: string; since: number; delimiters: string }> {
  const { config, dataDir } = await gatewayData(o);
  const { key, since } = revokeAddress(dataDir, addressArg(given, 'revoke')!);
  returnOwnership(dataDir);
  return { address: key, since, delimiters: recipientDelimiters(config) };
}

async function digest(o: { config?: string; set?: string[]; all?: boolean; 'dry-run'?: boolean; to?: string }): Promise<{ report: DigestReport; via: string }> {
  const { config, dataDir } = await gatewayData(o);
  const to = addressArg(o.to, '--to');
  const opts: DigestOptions = { all: o.all === true, dryRun: o['dry-run'] === true, ...(to ? { to } : {}) };
  const store = new QueueStore(dataDir);
  if (await gatewayStatus(store)) return { report: await new ControlClient(socketPath(dataDir)).digest(opts), via: 'gateway' };
  const deps: DigestDeps = {
    dataDir, store, config: () => config.quarantine_digest, hostname: () => config.server.hostname || os.hostname(), localDomains: () => config.domains, quarantineLifetime: () => config.queue.quarantine_lifetime,
    listDelimiters: () => recipientDelimiters(config),
  };
  // A dry run reads the quarantine only: no lock needed, nothing written.
  if (opts.dryRun) return { report: await runDigest(deps, opts), via: 'files' };
  const owner = await queueActions(store);
  try {
    if (owner.live) return { report: await new ControlClient(socketPath(dataDir)).digest(opts), via: 'gateway' };
    const report = await runDigest(deps, opts);
    returnOwnership(dataDir);
    return { report, via: 'files' };
  } finally { owner.release(); }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const o = parsed.values;
  const [command, ...args] = parsed.positionals;
  if (command === 'revoke' && args.length === 1) return runRevoke(o, args[0]);
  if (command !== 'digest' || args.length) {
    const usage = command === 'revoke' ? `moat quarantine revoke takes one address\n\n${USAGE}` : command ? `moat quarantine: unknown command ${JSON.stringify([command, ...args].join(' '))}\n\n${USAGE}` : USAGE;
    console.error(usage);
    return USAGE_ERROR;
  }
  return failures('digest', async () => {
    const { report, via } = await digest(o);
    if (o.json) console.log(JSON.stringify({ ...report, via }, null, 2));
    else {
      printReport(report);
      if (via === 'files' && !report.dryRun && report.digests.some((d) => d.queueId)) console.log('no gateway running: the digests go at its next start');
    }
    return report.digests.some((d) => d.error) ? 1 : 0;
  });
}

function runRevoke(o: { config?: string; set?: string[]; json?: boolean }, given: string): Promise<number> {
  return failures('revoke', async () => {
    const r = await revoke(o, given);
    if (o.json) console.log(JSON.stringify({ revoked: r.address, since: r.since, at: new Date(r.since).toISOString() }, null, 2));
    else {
      const tagged = r.delimiters && mailboxOf(r.address, r.delimiters) === r.address ? ` and its tagged forms (recipient_delimiter ${JSON.stringify(r.delimiters)})` : '';
      console.log(`quarantine links issued for ${forTerminal(r.address)}${tagged} until ${new Date(r.since).toISOString()} no longer work; the next digest's links will`);
    }
    return 0;
  });
}

/** Runs a subcommand, its errors told on stderr with their exit code. */
async function failures(command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) { console.error(`moat quarantine ${command}: ${e.message} (moat quarantine --help shows the usage)`); return USAGE_ERROR; }
    if (e instanceof ConfigError) { console.error(e.message); return 1; }
    console.error(`moat quarantine ${command}: ${(e as Error).message}`);
    return 1;
  }
}
