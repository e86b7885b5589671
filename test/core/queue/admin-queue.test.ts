// `moat queue` as an admin uses it beside a real gateway and smarthost: the quarantine, bad ids, partial deletes,
// and commands that arrive while the gateway stops or after it was killed.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnGateway, startGateway, type SpawnedGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/plugins/test-behaviour.ts');
const execFileP = promisify(execFile);


/** A smarthost that greets and then never answers: a delivery to it stays in flight until the relay's timeout. */
async function silentSmarthost(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined).on('close', () => sockets.delete(s));
    s.write('220 silent ESMTP\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('moat queue: what an admin does beside a real gateway', function () {
  this.timeout(30_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;
  let child: SpawnedGateway | undefined;
  let dataDir: string;

  beforeEach(async () => {
    sink = await startSmarthost();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-qadmin-'));
  });
  afterEach(async () => {
    await gw?.stop(); gw = undefined;
    await child?.kill('SIGKILL'); child = undefined;
    await sink.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (config: Record<string, unknown> = {}) => startGateway({ dataDir, config: {
    domains: ['example.com', 'example.net', 'example.org'], smarthost: `smtp://127.0.0.1:${sink.port}`,
    queue: { retry_schedule: ['1h'] }, plugins: [{ name: 'test-behaviour', module: FIXTURE }], ...config,
  } }).then((g) => { gw = g; return g; });

  it('release delivers a quarantined message once, as stored and marked released; delete empties the quarantine', async () => {
    const g = await start();
    const a = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'], subject: 'please-quarantine' });
    const b = await sendMail(g.port, { from: 'x@client.example', to: ['b@example.com'], subject: 'please-quarantine' });
    const listed = await moat(dataDir, 'list', '--folder', 'quarantine', '--json');
    assert.deepEqual(listed.json.map((r: any) => [r.id, r.state, r.size > 0]), [[a.queueId, 'quarantined', true], [b.queueId, 'quarantined', true]]);

    // Two admins release the same message at once: it leaves exactly once.
    const [r1, r2] = await Promise.all([moat(dataDir, 'release', a.queueId!, '--json'), moat(dataDir, 'release', a.queueId!, '--json')]);
    const outcomes = [r1, r2].map((r) => r.json.results[a.queueId!]);
    // The later one finds it scheduled (unchanged), in delivery and delivered while it waited (delivered), or already
    // delivered (missing).
    const later = outcomes.filter((o) => o !== 'done');
    assert.equal(later.length, 1, outcomes.join(', '));
    assert.ok(['missing', 'unchanged', 'delivered'].includes(later[0]), later[0]);
    const [m] = await sink.waitFor(1);
    const raw = m.raw.toString('latin1');
    assert.deepEqual(m.rcptTo, ['a@example.com']);
    assert.match(raw, /^X-Mailmoat-Verdict: quarantine;/m, 'the verdict that held it is kept');
    assert.match(raw, /^X-Mailmoat-Released: from quarantine by the administrator; /m);
    assert.ok(g.logs.some((l) => l.msg === 'released from quarantine' && l.qid === a.queueId));

    const del = await moat(dataDir, 'delete', b.queueId!, '--json');
    assert.deepEqual(del.json, { results: { [b.queueId!]: 'done' }, via: 'gateway' });
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === a.queueId), 5000, 'the released message delivered');
    assert.deepEqual(readdirSync(path.join(dataDir, 'quarantine')), []);
    assert.equal(sink.messages.length, 1);
  });

  it('the released metric counts a release from hold and one from the quarantine', async () => {
    sink.rcptReplies.set('a@example.com', 451);
    const g = await start();
    const deferred = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    const quarantined = await sendMail(g.port, { from: 'x@client.example', to: ['b@example.com'], subject: 'please-quarantine' });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === deferred.queueId), 5000, 'deferred');
    assert.equal((await moat(dataDir, 'hold', deferred.queueId!, '--json')).json.results[deferred.queueId!], 'done');
    const released = await moat(dataDir, 'release', deferred.queueId!, quarantined.queueId!, '--json');
    assert.deepEqual(released.json.results, { [deferred.queueId!]: 'done', [quarantined.queueId!]: 'done' });
    const metrics = await controlRequest(socketPath(dataDir), { op: 'metrics' }) as Record<string, number>;
    assert.equal(metrics.released, 2);
  });

  it('a malformed, unknown or repeated id gets one error line and changes nothing', async () => {
    const g = await start();
    const q = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'], subject: 'please-quarantine' });
    const qid = q.queueId!;
    await g.stop(); gw = undefined;

    for (const args of [['show', `../quarantine/${qid}`], ['delete', `../quarantine/${qid}`], ['hold', qid, '../x'], ['release', 'a'.repeat(300)], ['show', '']]) {
      const r = await moat(dataDir, ...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.ok(existsSync(path.join(dataDir, 'quarantine', `${qid}.eml`)), 'the quarantined message is still there');

    const missing = await moat(dataDir, 'release', 'nosuchid0000');
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^nosuchid0000: not found in the queue, the quarantine or the dead-letter folder\n$/);

    const twice = await moat(dataDir, 'delete', qid, qid, '--json');
    assert.equal(twice.code, 0);
    assert.deepEqual(twice.json, { results: { [qid]: 'done' }, via: 'files' });
    assert.equal(existsSync(path.join(dataDir, 'quarantine', `${qid}.eml`)), false);
  });

  it('delete --from with --to removes only that domain\'s recipients: the others are still delivered', async () => {
    for (const r of ['a@example.com', 'b@example.net', 'c@example.org']) sink.rcptReplies.set(r, 451);
    const g = await start();
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com', 'b@example.net', 'c@example.org'] });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 5000, 'deferred');

    const del = await moat(dataDir, 'delete', '--from', '<X@Client.Example>', '--to', 'EXAMPLE.ORG.', '--json');
    assert.deepEqual(del.json.results, { [s.queueId!]: 'done' });
    sink.rcptReplies.clear();
    assert.equal((await moat(dataDir, 'flush', s.queueId!, '--json')).json.flushed, 1);
    const [m] = await sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['a@example.com', 'b@example.net']);
  });

  it('delete --to in dead-letter removes that domain\'s failed recipients, and the message once none is left', async () => {
    sink.rcptReplies.set('b@example.net', 550);
    sink.rcptReplies.set('c@example.org', 550);
    const g = await start();
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com', 'b@example.net', 'c@example.org'] });
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter' && l.qid === s.queueId), 5000, 'dead-lettered');

    const del = await moat(dataDir, 'delete', '--to', 'example.org', '--folder', 'deadletter', '--json');
    assert.deepEqual(del.json.results, { [s.queueId!]: 'done' });
    const [row] = (await moat(dataDir, 'list', '--folder', 'deadletter', '--json')).json;
    assert.deepEqual(row.recipientStatus.map((r: any) => r.status), ['delivered', 'failed', 'deleted']);
    // The delivered recipient is done already: it does not keep the message.
    assert.deepEqual((await moat(dataDir, 'delete', '--to', 'example.net', '--folder', 'deadletter', '--json')).json.results, { [s.queueId!]: 'done' });
    assert.deepEqual(readdirSync(path.join(dataDir, 'deadletter')), []);
  });

  it('flush while the smarthost is down keeps the message and schedules its next attempt', async () => {
    // Nothing listens on the smarthost's port.
    const g = await start({ smarthost: `smtp://127.0.0.1:${await freePort()}` });
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 5000, 'deferred');
    const flushed = await moat(dataDir, 'flush', '--json');
    assert.deepEqual(flushed.json, { flushed: 1, via: 'gateway' });
    await until(() => g.logs.filter((l) => l.msg === 'deferred' && l.qid === s.queueId).length === 2, 5000, 'second attempt');
    const [row] = (await moat(dataDir, 'list', '--json')).json;
    assert.deepEqual([row.id, row.state, row.attempts], [s.queueId, 'deferred', 2]);
    assert.ok(row.nextAttempt > Date.now() + 30 * 60_000, 'next attempt on the retry schedule');
    assert.match(row.lastReply, /ECONNREFUSED/);
  });

  it('a command sent while the gateway stops goes through it, and waits for the delivery in progress', async () => {
    const silent = await silentSmarthost();
    const port = await freePort();
    try {
      child = await spawnGateway({ dataDir, port, config: { smarthost: { url: `smtp://127.0.0.1:${silent.port}`, timeout: '3s' }, queue: { retry_schedule: ['1h'] } } });
      const s = await sendMail(port, { from: 'x@client.example', to: ['a@example.com'] });
      await until(async () => (await moat(dataDir, 'list', '--json')).json[0]?.state === 'active', 5000, 'in flight');

      child.child.kill('SIGTERM');
      const held = await moat(dataDir, 'hold', s.queueId!, '--json');
      assert.deepEqual(held.json, { results: { [s.queueId!]: 'done' }, via: 'gateway' }, held.stderr);
      await child.exited;
      const output = child.output.join('');
      assert.doesNotMatch(output, /failed unexpectedly/);
      const [row] = (await moat(dataDir, 'list', '--json')).json;
      assert.deepEqual([row.id, row.state, row.attempts], [s.queueId, 'held', 1], 'the hold and the attempt both kept');
      assert.equal(existsSync(path.join(dataDir, 'queue.lock')), false);
    } finally { await silent.stop(); }
  });

  it('after a SIGKILL the stale socket is ignored and files are edited; a start waits for an edit in progress', async () => {
    sink.rcptReplies.set('a@example.com', 451);
    const port = await freePort();
    const config = { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['1h'] } };
    child = await spawnGateway({ dataDir, port, config });
    const s = await sendMail(port, { from: 'x@client.example', to: ['a@example.com'] });
    await child.kill('SIGKILL');
    assert.ok(existsSync(path.join(dataDir, 'control.sock')), 'the killed gateway left its socket');

    const held = await moat(dataDir, 'hold', s.queueId!, '--json');
    assert.deepEqual(held.json, { results: { [s.queueId!]: 'done' }, via: 'files' }, held.stderr);

    // An admin's edit in progress (a live process holds the lock): the gateway starts only once it is over. The editor
    // lives until the gateway is seen trying the lock (each try writes queue.lock.<pid>.tmp): an editor on a timer
    // could end before a slow start even reached the lock, and the gateway would then rightly not wait.
    const editor = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    const tries = watch(dataDir);
    try {
      writeFileSync(path.join(dataDir, 'queue.lock'), JSON.stringify({ pid: editor.pid, role: 'moat queue' }));
      const tried = new Promise<void>((resolve) => tries.on('change', (_e, name) => { if (/^queue\.lock\.\d+\.tmp$/.test(String(name))) resolve(); }));
      let started = false;
      const starting = spawnGateway({ dataDir, port, config }).then((c) => { started = true; return c; });
      await tried;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(started, false, 'not started while the edit is in progress');
      editor.kill();
      child = await starting;
      assert.match(child.output.join(''), /waiting for moat queue to finish editing the queue files/);
    } finally { tries.close(); editor.kill(); }
    // The edit made on the files reaches the gateway's log at its start, with who made it; the note is then gone.
    const noted = child.output.join('').split('\n').filter((l) => l.includes('queue edited while the gateway was stopped')).map((l) => JSON.parse(l));
    assert.equal(noted.length, 1, child.output.join(''));
    assert.deepEqual([noted[0].op, noted[0].qid, noted[0].result, noted[0].component], ['hold', s.queueId, 'done', 'control']);
    assert.ok(noted[0].by && noted[0].at, 'who and when');
    assert.ok(!existsSync(path.join(dataDir, 'admin-trail.jsonl')));

    sink.rcptReplies.clear();
    assert.equal((await moat(dataDir, 'list', '--json')).json[0].state, 'held', 'still held after the restart');
    const rel = await moat(dataDir, 'release', s.queueId!, '--json');
    assert.equal(rel.json.via, 'gateway');
    const [m] = await sink.waitFor(1);
    assert.match(m.raw.toString(), new RegExp(`id ${s.queueId}`));
  });

  it('show decodes UTF-8 headers and never writes a control character to the terminal', async () => {
    sink.rcptReplies.set('a@example.com', 451);
    const g = await start();
    // The test client sends strings as Latin-1: UTF-8 bytes go as one character each.
    const subject = Buffer.from('Grüße ☃').toString('latin1');
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'], subject, headers: { 'X-Trap': 'a\x1b]0;owned\x07\x1b[2Jb' } });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 5000, 'deferred');
    const text = await moat(dataDir, 'show', s.queueId!);
    assert.match(text.stdout, /^ {2}Subject: Grüße ☃$/m);
    assert.match(text.stdout, /^ {2}X-Trap: a\\x1b\]0;owned\\x07\\x1b\[2Jb$/m);
    assert.doesNotMatch(text.stdout, /[\x00-\x09\x0b-\x1f\x7f]/);
    const json = await moat(dataDir, 'show', s.queueId!, '--json');
    assert.equal(json.json.headers.find((h: any) => h.name === 'X-Trap').value, 'a\x1b]0;owned\x07\x1b[2Jb');
  });

  it('run as root on the files, gives what it wrote back to the owner of data_dir, so the gateway can go on writing them', async function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can make files another user's: nothing to check otherwise
    sink.rcptReplies.set('a@example.com', 451);
    const g = await start();
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'], subject: 'owned' });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 5000, 'deferred');
    await g.stop(); gw = undefined;
    // The gateway's own user: nobody.
    await execFileP('chown', ['-R', '65534:65534', dataDir]);
    // A hold rewrites the message's state file: a new file, made by root.
    assert.equal((await moat(dataDir, 'hold', s.queueId!, '--json')).json.via, 'files');
    const rootOwned = (await execFileP('find', [dataDir, '-user', '0'])).stdout.trim();
    assert.equal(rootOwned, '', 'nothing left root\'s');
    assert.ok(existsSync(path.join(dataDir, 'queue', `${s.queueId}.json`)));
  });
});
