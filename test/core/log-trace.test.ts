// An admin traces any message through the log of a spawned `moat start` by its queue id, as Postfix admins grep one,
// and trusts `moat metrics`: one gateway is driven through the paths a message can take, then its lines and counters
// are checked.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../helpers/smarthost.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';
import { sendMail, until, type Sent } from './queue/send.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');
const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'plugins', 'test-behaviour.ts');

type Line = Record<string, unknown> & { msg: string; level: string };

function lines(gw: SpawnedGateway): Line[] {
  return gw.output.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
}

async function moat(gw: SpawnedGateway, ...args: string[]): Promise<string> {
  return (await run(process.execPath, [MOAT, ...args, '--config', gw.configFile], { timeout: 20_000 })).stdout;
}

/** A client that sends half a message after 354 and hangs up. */
async function abortMidData(port: number): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  let seen = '';
  const waitFor = (re: RegExp) => new Promise<void>((resolve, reject) => {
    const check = () => { if (re.test(seen)) { s.off('data', onData); resolve(); } };
    const onData = (d: Buffer) => { seen += d.toString(); check(); };
    s.on('data', onData).once('error', reject);
    check();
  });
  await waitFor(/^220 /m);
  s.write('EHLO cut.test\r\n'); await waitFor(/^250 /m); seen = '';
  s.write('MAIL FROM:<a@client.example>\r\n'); await waitFor(/^250 /m); seen = '';
  s.write('RCPT TO:<ok@example.com>\r\n'); await waitFor(/^250 /m); seen = '';
  s.write('DATA\r\n'); await waitFor(/^354 /m);
  s.write('Subject: cut short\r\n\r\nhalf a bo');
  await new Promise((r) => setTimeout(r, 100));
  s.destroy();
}

describe('tracing every message through the log by its queue id, and the metrics', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let gw: SpawnedGateway;
  const sent: Record<string, Sent> = {};
  let connections = 0;
  const send = (key: string, opts: Parameters<typeof sendMail>[1]) => { connections++; return sendMail(gw.port, opts).then((s) => { sent[key] = s; return s; }); };
  const byQid = (qid: string | undefined) => { assert.ok(qid); return lines(gw).filter((l) => l.qid === qid); };
  const msgs = (qid: string | undefined) => byQid(qid).map((l) => l.msg);

  before(async () => {
    sink = await startSmarthost();
    for (const a of ['later', 'stuck', 'waiting', 'kept']) sink.rcptReplies.set(`${a}@example.com`, 451);
    sink.rcptReplies.set('gone@example.com', 550);
    gw = await spawnGateway({ config: {
      smarthost: { url: `smtp://relayuser:s3cret-smarthost-pw@127.0.0.1:${sink.port}` },
      // Nothing listens there: the gateway runs on an unreachable store, which it reports (with the URL) in its log.
      state: { backend: 'redis', redis: { url: `redis://:s3cret-redis-pw@127.0.0.1:${await freePort()}` } },
      queue: { retry_schedule: ['1s'], lifetime: '6s' },
      limits: { max_message_size: '20KB' },
      access: { deny_ips: ['192.0.2.66/32'] },
      scores: { reject: 15 },
      plugins: [{ name: 'test-behaviour', module: FIXTURE, timeout: '300ms' }],
    } });

    await send('ok', { from: 'a@client.example', to: ['ok@example.com'] });
    await send('later', { from: 'a@client.example', to: ['later@example.com'] });
    await send('gone', { from: 'a@client.example', to: ['gone@example.com'] });
    await send('stuck', { from: 'a@client.example', to: ['stuck@example.com'] });
    await send('waiting', { from: 'a@client.example', to: ['waiting@example.com'] });
    await send('kept', { from: 'a@client.example', to: ['kept@example.com'] });
    await send('spam', { from: 'a@client.example', to: ['ok@example.com'], headers: { 'X-Test-Score': '50' } });
    await send('big', { from: 'a@client.example', to: ['ok@example.com'], body: 'x'.repeat(30_000) });
    await send('hang', { from: 'a@client.example', to: ['ok@example.com'], subject: 'please-hang' });
    await send('quarantined', { from: 'a@client.example', to: ['ok@example.com'], subject: 'please-quarantine' });
    await send('relay', { from: 'a@client.example', to: ['x@elsewhere.org'] });
    connections++;
    const d = await SmtpDialog.connect(gw.port);
    sent.denied = await d.hello({ xclient: { addr: '192.0.2.66' } });
    await d.quit().catch(() => undefined);
    connections++;
    await abortMidData(gw.port);

    // Admin work: a deleted message, a held then released one, a released quarantine.
    await until(() => msgs(sent.waiting.queueId).includes('deferred') && msgs(sent.kept.queueId).includes('deferred'), 10_000, 'first deferrals');
    await moat(gw, 'queue', 'delete', sent.waiting.queueId!);
    await moat(gw, 'queue', 'hold', sent.kept.queueId!);
    sink.rcptReplies.delete('later@example.com');
    sink.rcptReplies.delete('kept@example.com');
    await moat(gw, 'queue', 'release', sent.kept.queueId!);
    await moat(gw, 'queue', 'release', sent.quarantined.queueId!);
    await until(() => lines(gw).some((l) => l.msg === 'lifetime expired: moved to dead-letter'), 15_000, 'the expired message');
    await until(() => msgs(sent.later.queueId).includes('delivered') && msgs(sent.kept.queueId).includes('delivered')
      && msgs(sent.quarantined.queueId).includes('delivered'), 10_000, 'the retried and released deliveries');
  });
  after(async () => {
    await gw?.kill();
    await sink?.stop();
  });

  it('gives every message that reached DATA one summary line with its cid and qid', () => {
    for (const key of ['ok', 'later', 'gone', 'stuck', 'waiting', 'kept', 'spam', 'big', 'hang', 'quarantined']) {
      const summaries = lines(gw).filter((l) => l.msg === 'message' && (l.reply as string).includes(sent[key].text));
      assert.equal(summaries.length, 1, key);
      assert.ok(summaries[0].cid && summaries[0].qid, key);
      assert.equal(summaries[0].level, 'info', key);
    }
    assert.deepEqual(lines(gw).filter((l) => l.msg === 'message').map((l) => l.verdict).sort(),
      ['aborted', 'accept', 'accept', 'accept', 'accept', 'accept', 'accept', 'quarantine', 'reject', 'reject', 'tempfail']);
  });

  it('logs each delivery attempt with relay, reply, attempt number and next retry, and the end under the qid', () => {
    assert.deepEqual(msgs(sent.ok.queueId), ['message', 'delivered']);
    const later = byQid(sent.later.queueId);
    const deferred = later.filter((l) => l.msg === 'deferred');
    assert.ok(deferred.length >= 1);
    deferred.forEach((l, i) => {
      assert.equal(l.attempt, i + 1);
      assert.match(l.reply as string, /^451 /);
      // The next hop that answered, as Postfix's relay=: its name, the address connected to, the port.
      assert.equal(l.relay, `127.0.0.1[127.0.0.1]:${sink.port}`);
      assert.ok(Date.parse(l.next_attempt as string) > Date.parse(l.time as string));
    });
    const delivered = later.find((l) => l.msg === 'delivered')!;
    assert.equal(delivered.attempt, deferred.length + 1);
    assert.match(delivered.reply as string, /^250 /);
    assert.equal(delivered.relay, `127.0.0.1[127.0.0.1]:${sink.port}`);
  });

  it('links a bounce to its notice, and the notice has its own delivery under its own qid', () => {
    const gone = byQid(sent.gone.queueId);
    const notice = gone.find((l) => l.msg === 'failure notice queued')!;
    assert.deepEqual(notice.about, ['gone@example.com']);
    const dead = gone.find((l) => l.msg === 'permanent failure: moved to dead-letter')!;
    assert.equal(dead.level, 'warn');
    assert.match((dead.failed as string[])[0], /gone@example\.com: 550 /);
    assert.deepEqual(msgs(notice.dsn_qid as string), ['delivered']);
    assert.ok(sink.messages.some((m) => m.mailFrom === '' && m.rcptTo[0] === 'a@client.example' && m.raw.toString().includes(sent.gone.queueId!)));
    const expired = byQid(sent.stuck.queueId);
    assert.ok(expired.some((l) => l.msg === 'failure notice queued'));
    assert.match((expired.find((l) => l.msg === 'lifetime expired: moved to dead-letter')!.failed as string[])[0], /stuck@example\.com/);
  });

  it('logs admin actions under the qid: deleted, held, released, released from quarantine', () => {
    const waiting = msgs(sent.waiting.queueId);
    assert.ok(waiting.includes('deleted') && !waiting.includes('delivered'));
    const kept = msgs(sent.kept.queueId);
    assert.ok(kept.indexOf('held') < kept.indexOf('released') && kept.indexOf('released') < kept.indexOf('delivered'), kept.join());
    assert.deepEqual(msgs(sent.quarantined.queueId).filter((m) => m !== 'control request'), ['message', 'released from quarantine', 'delivered']);
  });

  it('logs refusals at connect, RCPT and DATA at info, with the connection id; errors only for what failed on our side', () => {
    const all = lines(gw);
    const denied = all.find((l) => l.msg === 'client refused by access.deny_ips')!;
    assert.equal(denied.client, '192.0.2.66');
    assert.ok(all.some((l) => l.msg === 'connect' && l.cid === denied.cid));
    const relay = all.find((l) => l.msg === 'recipient refused')!;
    assert.equal(relay.level, 'info');
    assert.ok(relay.cid);
    const big = all.find((l) => l.msg === 'message' && (l.reply as string).startsWith('552 '))!;
    assert.ok((big.size as number) > 20 * 1024, `the summary of a 552 says how big the message was: ${big.size}`);
    const hang = byQid(all.find((l) => l.msg === 'message' && l.verdict === 'tempfail')!.qid as string);
    assert.deepEqual(hang.map((l) => l.msg), ['plugin timed out', 'message']);
    assert.equal(all.find((l) => l.msg === 'message' && l.verdict === 'aborted')!.level, 'info');
    const errors = new Set(all.filter((l) => l.level === 'error').map((l) => l.msg.replace(/^cannot reach the Redis state store .*/, 'redis down')));
    assert.deepEqual([...errors].sort(), ['plugin timed out', 'redis down']);
  });

  it('never logs a smarthost or Redis password', () => {
    const out = gw.output.join('');
    assert.ok(out.includes('redis://:***@127.0.0.1'), 'the store URL is logged, masked');
    assert.ok(!out.includes('s3cret'));
  });

  it('counts what happened, in JSON and in a valid Prometheus exposition, and keeps the counts over a reload', async () => {
    const before = JSON.parse(await moat(gw, 'metrics', '--json')) as Record<string, unknown>;
    gw.child.kill('SIGHUP');
    await until(() => lines(gw).some((l) => l.msg === 'config reloaded'), 10_000, 'the reload');
    const m = JSON.parse(await moat(gw, 'metrics', '--json')) as Record<string, unknown>;
    // The process's own figures (memory, CPU, event-loop lag) move by themselves; the gateway's counters must not.
    // The reload's own time is the one figure a reload must move.
    const counters = (x: typeof m) => ({
      ...x, connections_open: 0, process: undefined, nodejs: undefined, child_processes: undefined, script_sandbox_children: undefined, config_last_reload_timestamp_seconds: undefined,
      data_dir_free_bytes: undefined, data_dir_size_bytes: undefined,
    });
    assert.deepEqual(counters(m), counters(before), 'a reload resets no counter');
    assert.ok((m.config_last_reload_timestamp_seconds as number) >= (before.config_last_reload_timestamp_seconds as number), 'the reload is dated');
    assert.equal(m.config_last_reload_success, 1);
    assert.deepEqual(
      [m.connections, m.messages_accept, m.messages_reject, m.messages_tempfail, m.messages_quarantine, m.messages_aborted, m.recipients_refused, m.queue_scheduled],
      [connections, 6, 2, 1, 1, 1, 1, 0],
    );
    // What the queue did, counted where it happened: each deferral is one `deferred` line, each failure notice a bounce,
    // each release one, from hold or from the quarantine.
    assert.deepEqual(
      [m.relayed, m.bounced, m.deadlettered, m.deleted, m.released, m.connections_refused, m.deferred],
      [6, 2, 2, 1, 2, 1, lines(gw).filter((l) => l.msg === 'deferred').length],
    );
    const hist = m.data_duration_seconds as { buckets: Record<string, number>; count: number };
    assert.equal(hist.count, 10, 'every message answered at the end of DATA, not the aborted one');

    const prom = await moat(gw, 'metrics', '--prometheus');
    const typed = new Map<string, string>();
    const helped = new Set<string>();
    for (const line of prom.trimEnd().split('\n')) {
      const meta = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
      if (meta) { if (meta[1] === 'TYPE') typed.set(meta[2], meta[3]); else helped.add(meta[2]); continue; }
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})? (\S+)$/.exec(line);
      assert.ok(sample, `not a sample line: ${line}`);
      const family = sample[1].replace(/_(bucket|sum|count)$/, (x) => (['histogram', 'summary'].includes(typed.get(sample[1].slice(0, -x.length)) ?? '') ? '' : x));
      assert.ok(typed.has(family) && helped.has(family), `${sample[1]} has HELP and TYPE before it`);
      if (typed.get(family) === 'counter') assert.match(family, /_total$/);
      assert.ok(!Number.isNaN(Number(sample[3])));
    }
    assert.match(prom, /^mailmoat_messages_total\{verdict="accept"\} 6$/m);
    assert.match(prom, new RegExp(`^mailmoat_connections_total ${connections}$`, 'm'));
    assert.equal(typed.get('mailmoat_queue_scheduled'), 'gauge');
    const buckets = [...prom.matchAll(/^mailmoat_data_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((x) => Number(x[2]));
    assert.ok(buckets.length > 2 && buckets.every((n, i) => i === 0 || n >= buckets[i - 1]), 'buckets are cumulative');
    assert.match(prom, new RegExp(`^mailmoat_data_duration_seconds_bucket\\{le="\\+Inf"\\} ${buckets.at(-1)}\\nmailmoat_data_duration_seconds_sum \\S+\\nmailmoat_data_duration_seconds_count ${buckets.at(-1)}$`, 'm'));
  });
});
