// Changing one band's score, as an Rspamd admin's walkthrough tried it: `bands: [{min: 0.99, symbol: BAYES_SPAM_99,
// score: 9}]` dropped every other band (ham no longer got BAYES_HAM_99) and check-config said OK. `band_scores`
// changes a score and keeps the other bands; a `bands` list that drops default bands is warned of, naming them, at
// check-config and at start. A real gateway, a recording smarthost, and the real CLI.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { moat } from '../../scripts/moat-cli.ts';
import { fromOutside } from './gateway-beds.ts';
import { message, trainedFilter } from './fixtures.ts';

const DROPPED = 'bands: leaves out BAYES_SPAM_90 (5), BAYES_SPAM_70 (1.5), BAYES_UNSURE (0), BAYES_HAM_90 (-0.5), BAYES_HAM_99 (-1.5) of the default bands, '
  + 'so a probability below 0.99 gets no band at all; no ham band (below 0.1 with a negative score): nothing takes a score off ham. '
  + 'bands replaces the whole list: to change one band\'s score, leave bands out and write band_scores: { BAYES_SPAM_99: 9 }';

describe('bayes band_scores', function () {
  this.timeout(60_000);
  let dir: string;
  let dict: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-band-scores-'));
    dict = path.join(dir, 'dict.tab');
    await saveDictionary(dict, trainedFilter().dict);
  });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  describe('in a gateway', () => {
    let gw: RelayingGateway;
    before(async () => {
      gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, band_scores: { BAYES_SPAM_99: 9 } }] } });
    });
    after(async () => { await gw?.stop(); });

    async function verdictOf(raw: string, subject: string): Promise<string> {
      assert.equal((await fromOutside(gw.port, raw, ['bob@example.com'])).code, 250);
      const relayed = await gw.sink.waitForText(subject);
      return /^X-Mailmoat-Verdict: (.*)\r$/m.exec(relayed)![1];
    }

    it('scores spam with the changed score and ham with the default ham band, which a one-band list dropped', async () => {
      const spam = await verdictOf(message({ spam: true, seed: 900, subject: 'scores-spam' }), 'scores-spam');
      assert.match(spam, /symbols=BAYES_SPAM_99\(9\)$/);
      const ham = await verdictOf(message({ spam: false, seed: 901, subject: 'scores-ham' }), 'scores-ham');
      assert.match(ham, /^accept; score=-1\.5; .*symbols=BAYES_HAM_99\(-1\.5\)$/);
      assert.ok(!gw.logs.some((l) => String(l.msg).includes('leaves out')), 'band_scores drops nothing, so nothing is warned of');
    });
  });

  describe('moat check-config', () => {
    async function checkConfig(bayes: Record<string, unknown>) {
      const file = path.join(dir, 'mailmoat.yaml');
      fs.writeFileSync(file, stringify({ data_dir: path.join(dir, 'data'), domains: ['example.com'], plugins: [{ name: 'bayes', dictionary: dict, ...bayes }] }));
      return moat(['check-config', '--config', file]);
    }

    it('warns of a bands list that drops default bands, naming each with its score, and still says OK', async () => {
      const r = await checkConfig({ bands: [{ min: 0.99, symbol: 'BAYES_SPAM_99', score: 9 }] });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /: OK$/m);
      assert.ok(r.stderr.includes(`warning: plugins[0].${DROPPED}\n`), r.stderr);
    });

    it('takes band_scores without a word, and refuses one that names no band', async () => {
      const ok = await checkConfig({ band_scores: { BAYES_SPAM_99: 9, BAYES_HAM_99: -3 } });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(ok.stderr, '');
      const typo = await checkConfig({ band_scores: { BAYES_SPAM_98: 9 } });
      assert.equal(typo.code, 1, typo.stdout + typo.stderr);
      assert.ok(typo.stderr.includes('  plugins[0].band_scores.BAYES_SPAM_98: names no band (the bands are BAYES_SPAM_99, BAYES_SPAM_90, BAYES_SPAM_70, '
        + 'BAYES_UNSURE, BAYES_HAM_90, BAYES_HAM_99)\n'), typo.stderr);
    });

    it('keeps every default band of a list that only adds one, saying nothing', async () => {
      const r = await checkConfig({
        bands: [
          { min: 0.995, symbol: 'BAYES_SPAM_995', score: 10 }, { min: 0.99, symbol: 'BAYES_SPAM_99', score: 7 }, { min: 0.9, symbol: 'BAYES_SPAM_90', score: 5 },
          { min: 0.7, symbol: 'BAYES_SPAM_70', score: 1.5 }, { min: 0.1, symbol: 'BAYES_UNSURE', score: 0 }, { min: 0.01, symbol: 'BAYES_HAM_90', score: -0.5 },
          { min: 0, symbol: 'BAYES_HAM_99', score: -1.5 },
        ],
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stderr, '');
    });
  });

  it('warns at start too, in the gateway\'s log', async () => {
    const gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, bands: [{ min: 0.99, symbol: 'BAYES_SPAM_99', score: 9 }] }] } });
    try {
      const warning = gw.logs.find((l) => l.level === 'warn' && String(l.msg).includes('leaves out'));
      assert.equal(warning?.msg, `plugins[0].${DROPPED}`);
    } finally { await gw.stop(); }
  });
});
