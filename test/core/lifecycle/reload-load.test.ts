// SIGHUP reloads under load: ten clients send without pause (journaled and spooled messages, some pipelined, some
// through XCLIENT from a blocklisted address) to a `moat start` with plugins that hold resources (bayes, greylist,
// rbl, haraka, a recorder), while the test reloads it every 20–50 ms with changing and now and then invalid configs.
// Every message must be accepted and relayed, judged by one config, and the process must not keep what reloads retired.
import assert from 'node:assert/strict';
import { cpSync, renameSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { spawnGateway, merge, type SpawnedGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { message, trainedFilter } from '../../plugins/bayes/fixtures.ts';
import { FIXTURE as HARAKA_FIXTURE } from '../../plugins/haraka/setup.ts';

const CORE = path.resolve(import.meta.dirname, '..', '..', '..', 'core', 'index.ts');
const LISTED = '93.184.216.2';

/**
 * A plugin stamping each message with the generation of the config that made its instance (a header and a finding
 * that makes every message tagged spam, so the config's subject tag shows too), noting each start and close.
 */
function stampPlugin(dir: string): string {
  const file = path.join(dir, 'stamp.ts');
  writeFileSync(file, `import { appendFileSync } from 'node:fs';
import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: 'stamp', description: 'stamps the config generation', configSchema: s.object({ gen: s.number(), notes: s.string() }),
  symbols: { STAMP: 'the config generation' },
  create(cfg) {
    appendFileSync(cfg.notes, 'start\\n');
    return {
      hooks: { data: (ctx) => { ctx.addHeader('X-Gen', String(cfg.gen)); ctx.addFinding('STAMP', 10, String(cfg.gen)); } },
      async close() { appendFileSync(cfg.notes, 'close\\n'); },
    };
  },
});
`);
  return file;
}

/** What a generation's config sets, derived from its number so a relayed message can be checked against it. */
function generation(gen: number) {
  return { rblScore: 1 + (gen % 4), haraka: gen % 3 !== 0, tag: `[g${gen}]` };
}

function procStats(pid: number): { fds: number; rssKb: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return { fds, rssKb };
}

describe('SIGHUP reloads under load', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let dns: DnsTestServer | undefined;
  let sink: Smarthost | undefined;
  let gw: SpawnedGateway | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-reload-load-'));
    end = holdUntilExit({ dir });
  });
  after(async () => {
    await gw?.kill('SIGKILL');
    await sink?.stop();
    await dns?.stop();
    end();
  });

  it('accepts and relays every message, each judged by one config, and closes what the reloads retired', async () => {
    dns = await startDnsServer({ zones: { 'bl.test': { '2.216.184.93': { A: ['127.0.0.2'] } } } });
    sink = await startSmarthost();
    const dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
    const harakaDir = path.join(dir, 'haraka');
    cpSync(HARAKA_FIXTURE, harakaDir, { recursive: true });
    writeFileSync(path.join(harakaDir, 'config', 'plugins'), 'test_marker\n');
    const notes = path.join(dir, 'notes');
    const stamp = stampPlugin(dir);
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);

    const configFor = (gen: number): Record<string, unknown> => {
      const g = generation(gen);
      return {
        smarthost: `smtp://127.0.0.1:${sink!.port}`,
        dns: { servers: [dns!.address] },
        scores: { add_header: 5, reject: 1000, subject_tag: g.tag },
        plugins: [
          { name: 'rbl', zones: [{ zone: 'bl.test', score: g.rblScore, symbol: 'RBL_TEST' }] },
          { name: 'greylist', skip_recipient_domains: ['example.com'] },
          ...(g.haraka ? [{ name: 'haraka', dir: harakaDir, dns_servers: [dns!.address] }] : []),
          { name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10 },
          { name: 'stamp', module: stamp, gen, notes },
        ],
      };
    };
    gw = await spawnGateway({ dataDir, config: configFor(0) });
    // spawnGateway's own defaults, kept in each rewrite of the file
    const base = merge({
      server: { hostname: 'mx.test.example', listen: [`127.0.0.1:${gw.port}`], trusted_proxies: ['127.0.0.1/32'] },
      domains: ['example.com'], data_dir: dataDir, queue: { retry_schedule: ['1s'], lifetime: '1h' }, log: { level: 'info', format: 'json' },
    }, {});
    // Written whole and renamed into place, as a careful admin does: a reload must never read a half-written file.
    const write = (cfg: Record<string, unknown>) => {
      writeFileSync(`${gw!.configFile}.new`, stringify(merge(base, cfg)));
      renameSync(`${gw!.configFile}.new`, gw!.configFile);
    };
    const output = () => gw!.output.join('');
    const count = (needle: string) => output().split(needle).length - 1;

    // Ten clients, sending until told to stop; every reply is kept.
    let sending = true;
    const sent: string[] = [];
    const failures: string[] = [];
    const client = async (c: number) => {
      for (let n = 0; sending; n++) {
        const id = `c${c}-${n}`;
        const big = n % 4 === 3;
        const listed = n % 3 === 0;
        const pipelined = n % 2 === 0;
        const text = message({ spam: false, seed: n, extraHeaders: `X-Test-Id: ${id}` }) + (big ? `${'padding line of a large message\r\n'.repeat(5000)}` : '');
        const d = await SmtpDialog.connect(gw!.port);
        try {
          const hello = await d.hello(listed ? { xclient: { addr: LISTED } } : {});
          if (hello.code !== 250) { failures.push(`${id} EHLO ${hello.code} ${hello.text}`); continue; }
          let dataReply;
          if (pipelined) {
            d.write('MAIL FROM:<alice@partner.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n');
            const replies = [await d.read(), await d.read(), await d.read()];
            if (replies.map((r) => r.code).join() !== '250,250,354') { failures.push(`${id} ${replies.map((r) => `${r.code} ${r.text}`).join(' | ')}`); continue; }
            d.write(Buffer.concat([Buffer.from(text.replace(/(^|\r\n)\./g, '$1..'), 'latin1'), Buffer.from('.\r\n')]));
            dataReply = await d.read(30_000);
          } else {
            const m = await d.cmd('MAIL FROM:<alice@partner.test>');
            const r = await d.cmd('RCPT TO:<bob@example.com>');
            if (m.code !== 250 || r.code !== 250) { failures.push(`${id} ${m.code} ${m.text} | ${r.code} ${r.text}`); continue; }
            dataReply = await d.data(text);
          }
          if (dataReply.code !== 250) failures.push(`${id} DATA ${dataReply.code} ${dataReply.text}`);
          else sent.push(id);
        } catch (e) {
          failures.push(`${id} ${(e as Error).message}`);
        } finally { await d.quit(); }
      }
    };
    const clients = Array.from({ length: 10 }, (_, c) => client(c));

    // The reloads: a new generation each time; now and then an invalid file, which must be refused.
    let gen = 0;
    let invalid = 0;
    const stats: Record<number, { fds: number; rssKb: number }> = {};
    const noted = (what: string) => readFileSync(notes, 'utf8').split('\n').filter((l) => l === what).length;
    const closesAt: Record<number, number> = {};
    const startsAt: Record<number, number> = {};
    const reloadsDone = () => count('"config reloaded"');
    const started = Date.now();
    for (let i = 1; i <= 300 && Date.now() - started < 22_000; i++) {
      if (i % 60 === 30) {
        write({ ...configFor(gen), scores: { add_header: 'many' } });
        const refusedBefore = count('config reload refused');
        gw.child.kill('SIGHUP');
        // a reload already waiting may read the invalid file too, and is refused as well
        await waitFor('the invalid config refused and logged', () => count('config reload refused') > refusedBefore || undefined, 5000);
        invalid++;
      }
      write(configFor(++gen));
      gw.child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 30)));
      if (i === 100 || i === 300) {
        // Measured once the burst's last reload is done, and after the grace the retired instances get for hooks in flight.
        await new Promise((r) => setTimeout(r, 1500));
        stats[i] = procStats(gw.child.pid!);
        closesAt[i] = noted('close');
        startsAt[i] = noted('start');
      }
    }
    if (!stats[300]) { stats[300] = procStats(gw.child.pid!); closesAt[300] = noted('close'); startsAt[300] = noted('start'); }
    sending = false;
    await Promise.all(clients);

    assert.deepEqual(failures, [], 'no message was refused or deferred');
    assert.ok(sent.length >= 100, `only ${sent.length} messages sent`);
    // Each reload builds a full chain (a Bayes dictionary on its own thread: some 300 ms under this load), and the
    // SIGHUPs that arrive meanwhile make one more reload, so 300 signals are some 50 reloads.
    assert.ok(reloadsDone() >= 30, `only ${reloadsDone()} reloads`);
    assert.ok(invalid >= 1);

    // Every 250 reached the smarthost, judged by one generation's config throughout.
    const relayed = await sink.waitFor(sent.length, 20_000);
    const byId = new Map<string, string>();
    for (const m of relayed) {
      const raw = m.raw.toString('latin1');
      byId.set(/^X-Test-Id: (\S+)/m.exec(raw)![1], raw);
    }
    // From its DATA on, a message is one generation's: the data hook's plugins and the verdict's scores and subject
    // tag. (Earlier steps are not pinned: a session reads the running chain and config anew at each command, so a
    // connect-time RBL finding may be of an older generation, as an smtpd started before a Postfix reload is.)
    for (const id of sent) {
      const raw = byId.get(id);
      assert.ok(raw, `${id} was acknowledged but never relayed`);
      const gens = [...raw.matchAll(/^X-Gen: (\d+)/gm)].map((m) => Number(m[1]));
      assert.equal(gens.length, 1, `${id}: one stamp`);
      assert.ok(gens[0] <= gen, `${id}: generation ${gens[0]} was written`);
      assert.match(raw, new RegExp(`^Subject: \\[g${gens[0]}\\] `, 'm'), `${id}: tagged by the config its plugins came from`);
    }

    // What the reloads retired was let go: no growth in file descriptors, and memory far from a bayes set per reload.
    const at100 = stats[100];
    const at300 = stats[300];
    assert.ok(at300.fds <= at100.fds + 20, `open files after 100 reloads: ${at100.fds}, after 300: ${at300.fds}`);
    // A bound on growth, not a ratio: RSS at 100 may be sampled just after a collection (246 MB in one run, 318 in
    // another). The leak this guards against kept every retired chain, about 13 MB a reload: some 500 MB over the
    // 40 reloads between the two samples.
    assert.ok(at300.rssKb <= at100.rssKb + 250 * 1024, `RSS after 100 reloads: ${at100.rssKb} KB, after 300: ${at300.rssKb} KB`);
    // Closed once idle, not kept for a grace period: at most the running set and one being replaced are open.
    for (const i of [100, 300]) assert.ok(startsAt[i] - closesAt[i] <= 2, `after ${i} SIGHUPs: ${startsAt[i]} instances started, ${closesAt[i]} closed`);

    // A stop closes every instance, retired or running, and exits soon.
    const stopAt = Date.now();
    gw.child.kill('SIGTERM');
    const code = await gw.exited;
    assert.equal(code, 0, output().slice(-2000));
    assert.ok(Date.now() - stopAt < 5000, `the stop took ${Date.now() - stopAt} ms`);
    assert.match(output(), /"mailmoat stopped"/);
    const lines = readFileSync(notes, 'utf8').split('\n');
    const starts = lines.filter((l) => l === 'start').length;
    assert.equal(lines.filter((l) => l === 'close').length, starts, 'every instance started was closed');
  });
});
