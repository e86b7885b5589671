// The default bands against the gateway's default thresholds: a message Bayes puts at 0.9–0.99 leaves tagged on that
// finding alone (before, BAYES_SPAM_90 scored 3.5 against add_header's 5 and such spam left untagged), and one at
// 0.7–0.9 still needs another check to agree. A real gateway with no `scores` set, and a recording smarthost.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import type { Issue } from '../../../core/index.ts';
import { gatewaySchema } from '../../../core/config/gateway-schema.ts';
import { DEFAULT_BANDS } from '../../../plugins/bayes/config.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { fromOutside } from './gateway-beds.ts';
import { message, trainedFilter } from './fixtures.ts';

/** The gateway's thresholds when the config sets none. */
function defaultScores(): { add_header?: number; reject?: number } {
  const issues: Issue[] = [];
  const cfg = gatewaySchema.parse({}, '', issues);
  assert.deepEqual(issues, []);
  return cfg.scores;
}

describe('bayes bands against the default thresholds', function () {
  this.timeout(30_000);
  const filter = trainedFilter();
  let dir: string;
  let gw: RelayingGateway;

  /**
   * A spam of the fixtures' vocabulary with the first `n` words of a ham appended: the more ham words, the lower its
   * probability, so one `n` puts it in the band asked for (by the probability as X-Mailmoat-Bayes shows it).
   */
  function spamDilutedInto(min: number, below: number, subject: string): { raw: string; shown: string } {
    const hamWords = message({ spam: false, seed: 500 }).split('\r\n\r\n')[1].split(/\s+/);
    for (let n = 0; n <= hamWords.length; n++) {
      const raw = `${message({ spam: true, seed: 500, subject })}${hamWords.slice(0, n).join(' ')}\r\n`;
      const shown = filter.score(raw).probability.toFixed(4);
      if (Number(shown) >= min && Number(shown) < below) return { raw, shown };
    }
    throw new Error(`no dilution puts the spam between ${min} and ${below}`);
  }

  /** The message of `spamDilutedInto` sent from outside and relayed, after its X-Mailmoat-Bayes was checked. */
  async function relayedInBand(min: number, below: number, subject: string): Promise<string> {
    const { raw, shown } = spamDilutedInto(min, below, subject);
    assert.equal((await fromOutside(gw.port, raw, ['bob@example.com'])).code, 250);
    const relayed = await gw.sink.waitForText(subject);
    assert.ok(relayed.includes(`\r\nX-Mailmoat-Bayes: ${shown}\r\n`), `X-Mailmoat-Bayes: ${shown} in ${relayed}`);
    return relayed;
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-band-thresholds-'));
    const dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, filter.dict);
    // No `scores` and no `bands`: the defaults of both are what is under test.
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10 }] } });
  });
  after(async () => {
    await gw?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives every band from 0.9 up a score that reaches add_header on its own, and none that reaches reject', () => {
    const { add_header: tag, reject } = defaultScores();
    assert.ok(tag !== undefined && reject !== undefined);
    for (const b of DEFAULT_BANDS) {
      if (b.min >= 0.9) assert.ok(b.score >= tag, `${b.symbol} (${b.score}) tags on its own at add_header ${tag}`);
      assert.ok(b.score < reject, `${b.symbol} (${b.score}) alone never refuses at reject ${reject}`);
    }
  });

  it('tags a message at p 0.9–0.99 (BAYES_SPAM_90) on the Bayes finding alone', async () => {
    const relayed = await relayedInBand(0.9, 0.99, 'band-ninety');
    assert.match(relayed, /^X-Mailmoat-Spam: Yes\r$/m);
    assert.match(relayed, /^X-Mailmoat-Verdict: add_header; score=5; .*symbols=BAYES_SPAM_90\(5\)\r$/m);
  });

  it('leaves a message at p 0.7–0.9 (BAYES_SPAM_70) untagged when no other check adds to it', async () => {
    const relayed = await relayedInBand(0.7, 0.9, 'band-seventy');
    assert.match(relayed, /^X-Mailmoat-Spam: No\r$/m);
    assert.match(relayed, /^X-Mailmoat-Verdict: accept; score=1\.5; .*symbols=BAYES_SPAM_70\(1\.5\)\r$/m);
  });
});
