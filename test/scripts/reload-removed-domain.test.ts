// `moat reload` of a config that takes a domain out of `domains` while mail for it waits in the queue and the
// quarantine: the reload goes through, and says how much mail waits and the route it now takes, as the log does.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { spawnGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../helpers/smarthost.ts';
import { sendMail } from '../core/queue/send.ts';
import { waitFor, waitUntil } from '../helpers/wait-for.ts';
import { moat } from './moat-cli.ts';

describe('moat reload: a domain taken out while mail for it waits', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let gw: SpawnedGateway | undefined;

  beforeEach(async () => {
    sink = await startSmarthost();
    // The smarthost defers it: the message stays in the queue.
    sink.rcptReplies.set('carol@old.example', 451);
  });
  afterEach(async () => { await gw?.kill(); gw = undefined; await sink.stop(); });

  it('warns with the counts in the queue and the quarantine and names the default route; a reload that keeps it does not', async () => {
    gw = await spawnGateway({
      config: {
        domains: ['example.com', 'old.example'],
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        queue: { retry_schedule: ['1h'], lifetime: '1d' },
        plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }],
      },
    });
    const g = gw;
    const out = () => g.output.join('');
    const logLines = () => out().split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
    const queued = await sendMail(g.port, { from: 'x@client.example', to: ['carol@old.example'], subject: 'queued' });
    assert.equal(queued.code, 250);
    assert.equal((await sendMail(g.port, { from: 'x@client.example', to: ['dave@old.example'], subject: 'hold-me now' })).code, 250);
    assert.equal((await sendMail(g.port, { from: 'x@client.example', to: ['erin@example.com'], subject: 'hold-me too' })).code, 250);
    await waitUntil(() => `the deferral of ${queued.queueId} in:\n${out()}`, () => logLines().some((l) => l.msg === 'deferred' && l.qid === queued.queueId));

    // Kept: no word about waiting mail.
    const kept = await moat(['reload', '--config', g.configFile]);
    assert.equal(kept.code, 0, kept.stdout + kept.stderr);
    assert.doesNotMatch(kept.stdout, /taken out/);

    const config = parse(readFileSync(g.configFile, 'utf8'));
    writeFileSync(g.configFile, stringify({ ...config, domains: ['example.com'] }));
    const r = await moat(['reload', '--config', g.configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /reloaded/);
    assert.match(r.stdout, /warning: domains: "old\.example" was taken out while 1 message\(s\) in the queue and 1 in the quarantine wait for it: that mail now goes by the default route \(the smarthost\); put the domain back, or give it a route, if its mail belongs elsewhere/);
    const line = await waitFor(() => `the log line in:\n${out()}`, () => logLines().find((l) => l.msg === 'config reload: mail waits for a domain taken out of domains'));
    assert.equal(line.level, 'warn');
    assert.deepEqual({ domain: line.domain, queued: line.queued, quarantined: line.quarantined, route: line.route },
      { domain: 'old.example', queued: 1, quarantined: 1, route: 'the default route (the smarthost)' });
  });
});
