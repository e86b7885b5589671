// `moat queue`: see and steer the delivery queue; changes go through the running gateway when there is one.
import { readCommand, USAGE_ERROR } from './args.ts';
import { loadConfig } from '../../core/config/load.ts';
import { QueueStore, type QueueFolder } from '../../core/queue/queue-store.ts';
import { listRow, overview, showMessage, type ListRow } from '../../core/queue/inspect.ts';
import { queueActions } from '../../core/control/client.ts';
import { domainOf } from '../../core/queue/actions.ts';

const USAGE = `usage: moat queue <command> [--config FILE | --data-dir DIR] [--json]

  list [--folder queue|deadletter|quarantine]   id, age, sender, recipients, attempts, next attempt, last reply
  show ID                                       envelope, headers, delivery history
  flush [ID]                                    retry now: one message or every deferred one
  delete ID… | --to DOMAIN | --from ADDRESS     delete messages (--to: only their recipients in DOMAIN)
  hold ID…                                      stop delivering until released
  release ID…                                   deliver again, now
  overview                                      messages and oldest age per destination domain

With a gateway running on the data_dir, flush/hold/release/delete go through its control socket
(data_dir/control.sock), so they never race with the relay workers; without one they edit the files.
Exit code: 0 done, 1 a message was not found or an error, 64 usage error.`;

class UsageError extends Error {}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
const iso = (ms: number | null) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

function printList(rows: ListRow[]): void {
  if (!rows.length) { console.log('queue is empty'); return; }
  for (const r of rows) {
    console.log(`${r.id}  ${age(r.age).padStart(4)}  ${r.state.padEnd(10)}  <${r.sender}> -> ${r.recipients.join(', ')}`);
    console.log(`    size ${r.size}  attempts ${r.attempts}  next ${r.state === 'deferred' ? iso(r.nextAttempt) : '-'}${r.lastReply ? `  last: ${r.lastReply}` : ''}`);
  }
  console.log(`${rows.length} message(s)`);
}

async function dataDir(o: { 'data-dir'?: string; config?: string }): Promise<string> {
  if (o['data-dir']) return o['data-dir'];
  return (await loadConfig({ file: o.config })).config.data_dir;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, {
    config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' },
    folder: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' },
  }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const o = parsed.values;
  const [command, ...ids] = parsed.positionals;
  const json = o.json === true;
  if (!command) { console.log(USAGE); return USAGE_ERROR; }
  const out = (value: unknown, text: () => void) => { if (json) console.log(JSON.stringify(value, null, 2)); else text(); };
  try {
    const store = new QueueStore(await dataDir(o));
    switch (command) {
      case 'list': {
        const folder = (o.folder ?? 'queue') as QueueFolder;
        if (!['queue', 'deadletter', 'quarantine'].includes(folder)) throw new UsageError(`unknown folder ${folder}`);
        const { live } = await queueActions(store);
        const busy = new Set(live?.busy ?? []);
        const rows = (await store.list(folder)).map((e) => listRow(e, folder, busy));
        out(rows, () => printList(rows));
        return 0;
      }
      case 'overview': {
        const rows = overview(await store.list());
        out(rows, () => {
          if (!rows.length) { console.log('queue is empty'); return; }
          console.log(`${'domain'.padEnd(32)} ${'messages'.padStart(8)} ${'rcpts'.padStart(6)} ${'oldest'.padStart(6)} ${'deferred'.padStart(8)} ${'held'.padStart(5)}`);
          for (const r of rows) console.log(`${r.domain.padEnd(32)} ${String(r.messages).padStart(8)} ${String(r.recipients).padStart(6)} ${age(r.oldest).padStart(6)} ${String(r.deferred).padStart(8)} ${String(r.held).padStart(5)}`);
        });
        return 0;
      }
      case 'show': {
        if (ids.length !== 1) throw new UsageError('show takes one queue id');
        const m = await showMessage(store, ids[0]);
        if (!m) { console.error(`no message ${ids[0]}`); return 1; }
        out(m, () => {
          const e = m.entry;
          console.log(`id:         ${e.id} (${m.folder}${e.held ? ', held' : ''})`);
          console.log(`received:   ${iso(e.receivedAt)} from ${e.client.ip}${e.client.helo ? ` (${e.client.helo})` : ''}${e.client.user ? ` user ${e.client.user}` : ''}`);
          console.log(`sender:     <${e.mailFrom}>`);
          for (const r of e.recipients) console.log(`recipient:  <${r.address}> ${r.status}${r.reply ? ` (${r.reply})` : ''}`);
          console.log(`size:       ${e.size}   attempts: ${e.attempts}   next: ${m.folder === 'queue' && !e.held ? iso(e.nextAttemptAt) : '-'}`);
          if (e.verdict) console.log(`verdict:    ${e.verdict.action} score ${e.verdict.score} ${e.verdict.symbols.join(' ')}`);
          console.log('headers:');
          for (const h of m.headers) console.log(`  ${h.name}: ${h.value}`);
          console.log('history:');
          if (!e.history.length) console.log('  (no attempt yet)');
          for (const h of e.history) console.log(`  ${iso(h.at)}  ${h.result}`);
        });
        return 0;
      }
      case 'flush': {
        if (ids.length > 1) throw new UsageError('flush takes at most one queue id');
        const { actions, live } = await queueActions(store);
        const n = await actions.flush(ids[0]);
        out({ flushed: n, via: live ? 'gateway' : 'files' }, () => console.log(`${n} message(s) due now${live ? '' : ' (no gateway running: they go at its next start)'}`));
        return ids[0] && n === 0 && !(await store.load(ids[0])) ? 1 : 0;
      }
      case 'hold': case 'release': case 'delete': {
        const to = o.to, from = o.from;
        let targets = ids;
        if (command === 'delete' && (to || from)) {
          if (ids.length) throw new UsageError('delete takes ids or --to/--from, not both');
          const all = await store.list();
          targets = all.filter((e) => (!from || e.mailFrom.toLowerCase() === from.toLowerCase())
            && (!to || e.recipients.some((r) => r.status === 'pending' && domainOf(r.address) === to.toLowerCase().replace(/^@/, '')))).map((e) => e.id);
        } else if (!ids.length) throw new UsageError(`${command} needs at least one queue id`);
        const { actions, live } = await queueActions(store);
        const results: Record<string, string> = {};
        for (const id of targets) {
          results[id] = command === 'delete' ? await actions.delete(id, { to: to && !from ? to : undefined })
            : command === 'hold' ? await actions.hold(id) : await actions.release(id);
        }
        const missing = Object.values(results).filter((r) => r === 'missing').length;
        out({ results, via: live ? 'gateway' : 'files' }, () => {
          for (const [id, r] of Object.entries(results)) console.log(`${id}: ${r === 'done' ? `${command === 'delete' ? 'deleted' : command === 'hold' ? 'held' : 'released'}` : r === 'missing' ? 'not in the queue' : 'no change'}`);
          if (!targets.length) console.log('no matching message');
        });
        return missing ? 1 : 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code === 'GW_ERR_CONFIG_INVALID') { console.error(`${(e as Error).message}\n${USAGE}`); return USAGE_ERROR; }
    console.error(`moat queue ${command}: ${(e as Error).message}`);
    return 1;
  }
}
