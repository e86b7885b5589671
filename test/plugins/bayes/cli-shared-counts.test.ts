// From a two-gateway walk-through (separate data_dirs, one Redis namespace): `moat bayes merge DICT …` taught one
// gateway's file, and the other never saw it. `merge --config FILE SPAMDIR HAMDIR` teaches the shared counts in
// Redis, by the script auto-training uses, so every gateway scores with the lesson at its next sync; `stats --config`
// shows the file's counts, the shared ones and what the gateways score with. Real gateways, a real Redis.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { run as bayesCli } from '../../../scripts/cli/bayes.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { capture } from '../../helpers/console-capture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import type { TestGateway } from '../../helpers/gateway.ts';
import { trainedFilter } from './fixtures.ts';
import { fromOutside, useRedisPair } from './gateway-beds.ts';

const PREFIX = 'cli-shared:';
/** Spam made of words neither dictionary file has seen. */
const novelSpam = (i: number) => `Subject: quasar offer ${i}\r\nFrom: x${i}@novel.test\r\nMessage-ID: <${i}@novel.test>\r\n\r\nxylophone zeppelin quasar nebula xylophone ${i}\r\n`;
const novelHam = (i: number) => `Subject: minutes ${i}\r\nFrom: y@colleague.test\r\nMessage-ID: <h${i}@colleague.test>\r\n\r\nharpsichord gazebo meadow ${i}\r\n`;

describe('moat bayes merge and stats --config: the counts gateways share through Redis', function () {
  this.timeout(60_000);
  const bayes = (dir: string, name: string) => ({ name: 'bayes', dictionary: path.join(dir, `${name}.tab`), seed: 'none', min_learned: 10, honeypot_delivery: 'relay', sync_interval: '100ms' });
  const pair = useRedisPair('bayes-cli-shared', PREFIX, async (name, dir) => {
    await saveDictionary(path.join(dir, `${name}.tab`), trainedFilter().dict);
    return { plugins: [bayes(dir, name)] };
  });

  /** A config like gateway `name`'s, for the command line. */
  function configFile(name: 'a' | 'b', state: Record<string, unknown> = { backend: 'redis', redis: { url: pair.redis.url, prefix: PREFIX } }): string {
    const file = path.join(pair.dir, `${name}-${Object.keys(state).length}.yaml`);
    fs.writeFileSync(file, stringify({ data_dir: path.join(pair.dir, `data-${name}`), state, plugins: [bayes(pair.dir, name)] }));
    return file;
  }

  async function probability(gw: TestGateway, raw: string): Promise<number> {
    const marker = /^Subject: (.+)$/m.exec(raw)![1].trim();
    assert.equal((await fromOutside(gw.port, raw, ['bob@example.com'])).code, 250);
    const relayed = await waitFor(`${marker} relayed`, () => pair.smarthost.messages.find((m) => m.raw.toString('latin1').includes(marker)));
    return Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(relayed.raw.toString('latin1'))![1]);
  }

  it('teaches both gateways through one of their configs, without the balance rule, and stats shows it labelled', async () => {
    const [a, b] = pair.gws;
    assert.ok(await probability(b, novelSpam(100)) < 0.9, 'before: the novel words mean nothing to b');
    const spamDir = path.join(pair.dir, 'spam');
    const hamDir = path.join(pair.dir, 'ham');
    fs.mkdirSync(spamDir);
    fs.mkdirSync(hamDir);
    for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(spamDir, `${i}.eml`), novelSpam(i));
    fs.writeFileSync(path.join(spamDir, 'copy.eml'), novelSpam(0));
    fs.writeFileSync(path.join(hamDir, '0.eml'), novelHam(0));

    // Through gateway a's config: 12 spam against 1 ham would stop at the second spam under the balance rule.
    const merged = await capture(() => bayesCli(['merge', '--config', configFile('a'), spamDir, hamDir, '--json']));
    assert.equal(merged.code, 0, merged.out);
    const r = JSON.parse(merged.out);
    assert.deepEqual(r.learned, { spam: 12, ham: 1 });
    assert.deepEqual(r.duplicates, { spam: 1, ham: 0 });
    assert.deepEqual(r.store, { messages: { spam: 12, ham: 1 }, log: 13 });
    assert.deepEqual(r.shared, { url: pair.redis.url, namespace: 'default' });

    // Gateway b, whose file no command touched, scores with it once it has synced.
    const p = await waitFor('b to score with the lesson', async () => { const x = await probability(b, novelSpam(200 + Date.now() % 1000)); return x > 0.9 ? x : undefined; });
    assert.ok(p > 0.9);
    assert.ok(await probability(a, novelSpam(300)) > 0.9, 'and a');

    const stats = await capture(() => bayesCli(['stats', '--config', configFile('b'), '--json']));
    assert.equal(stats.code, 0, stats.out);
    const s = JSON.parse(stats.out);
    assert.equal(s.dictionary, path.join(pair.dir, 'b.tab'), 'DICT left out: the plugin\'s own file');
    assert.deepEqual(s.messages, { spam: 30, ham: 30 }, 'the file as trained');
    assert.deepEqual(s.shared.messages, { spam: 12, ham: 1 });
    assert.equal(s.shared.log.lesson, 13);
    assert.ok(s.shared.tokens > 0);
    assert.deepEqual(s.scoredWith.messages, { spam: 42, ham: 31 });
    assert.ok(s.scoredWith.tokens > s.tokens && s.scoredWith.tokens <= s.tokens + s.shared.tokens);

    const text = await capture(() => bayesCli(['stats', path.join(pair.dir, 'b.tab'), '--config', configFile('b')]));
    assert.equal(text.code, 0, text.out);
    assert.match(text.out, /^dictionary file .*b\.tab: 30 spam and 30 ham messages/m);
    assert.match(text.out, /^shared counts \(Redis redis:\/\/127\.0\.0\.1:\d+, namespace default\): 12 spam and 1 ham learned, [\d,]+ tokens; the lesson log is at lesson 13$/m);
    assert.match(text.out, /^what the gateways score with \(the file \+ the shared counts\): 42 spam and 31 ham messages, [\d,]+ tokens$/m);
  });

  it('refuses a config whose gateways share nothing, pointing at the file form; and refuses what does not apply', async () => {
    const embedded = configFile('a', { backend: 'embedded' });
    const spamDir = path.join(pair.dir, 'spam');
    const hamDir = path.join(pair.dir, 'ham');
    const refused = await capture(() => bayesCli(['merge', '--config', embedded, spamDir, hamDir]));
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /share no Bayes counts \(the state store is embedded, not Redis\): each learns into its dictionary file; teach that with `moat bayes merge DICT SPAMDIR HAMDIR`/);
    const usage = await capture(() => bayesCli(['merge', '--config', embedded, path.join(pair.dir, 'a.tab'), spamDir, hamDir]));
    assert.equal(usage.code, 64, usage.out);
    const noReinforce = await capture(() => bayesCli(['merge', '--config', embedded, spamDir, hamDir, '--no-reinforce']));
    assert.equal(noReinforce.code, 64, 'the shared counts hold counts alone: no model pass to skip');
  });
});
