// The eval script's parts: deterministic split, X-Spam-* stripping, ROC area and rates.
import assert from 'node:assert/strict';
import { inTraining, stripSpamHeaders } from '../../../scripts/bayes/corpus.ts';
import { figures, rocArea, seededRandom, spamCaughtAtHamRates, spamCaughtInterval } from '../../../scripts/bayes/metrics.ts';

describe('bayes eval parts', () => {
  it('splits by a hash of the name: stable, and close to the asked share', () => {
    const names = Array.from({ length: 2000 }, (_v, i) => `msg${i}`);
    const a = names.filter((n) => inTraining('set', n, 60));
    const b = names.filter((n) => inTraining('set', n, 60));
    assert.deepEqual(a, b);
    assert.ok(a.length > 1100 && a.length < 1300, `${a.length} of 2000`);
  });

  it('strips X-Spam-* fields with their folded lines and nothing else', () => {
    const raw = Buffer.from('From: a@b\nX-Spam-Status: Yes,\n\ttests=FOO\nX-Spam-Level: ***\nSubject: hi\n\nX-Spam-Body: stays\n');
    assert.equal(stripSpamHeaders(raw).toString(), 'From: a@b\nSubject: hi\n\nX-Spam-Body: stays\n');
  });

  it('computes ROC area with ties counted half, and rates at a cutoff', () => {
    assert.equal(rocArea([{ spam: true, p: 0.9 }, { spam: false, p: 0.1 }]), 1);
    assert.equal(rocArea([{ spam: true, p: 0.5 }, { spam: false, p: 0.5 }]), 0.5);
    assert.equal(rocArea([{ spam: true, p: 1, tie: 5 }, { spam: false, p: 1, tie: 2 }]), 1, 'the tie key orders equal probabilities');
    const f = figures([{ spam: true, p: 0.95 }, { spam: true, p: 0.5 }, { spam: false, p: 0.2 }, { spam: false, p: 0.92 }], 0.9);
    assert.deepEqual([f.spamCaught, f.hamAsSpam], [50, 50]);
  });

  it('gives spam caught at ham rates, and agrees with the 0.1% figure', () => {
    // 1,000 ham at p = i/1000 (0 … 0.999) and 10 spam at 0.9905 … 0.9995: at 0.1% one ham may be above the cutoff,
    // so the bar is the second-highest ham (0.998); at 1%, ten may, so it is the eleventh (0.989).
    const results = [
      ...Array.from({ length: 1000 }, (_v, i) => ({ spam: false, p: i / 1000 })),
      ...Array.from({ length: 10 }, (_v, i) => ({ spam: true, p: 0.9905 + i / 1000 })),
    ];
    const [at01, at1] = spamCaughtAtHamRates(results, [0.001, 0.01]);
    assert.equal(at01, 20, '0.9985 and 0.9995 lie above 0.998');
    assert.equal(at1, 100);
    assert.equal(figures(results, 0.9).spamAtHam01, at01);
  });

  it('gives the bootstrap interval of spam caught at a ham rate that resampling by hand gives', () => {
    // 2,000 ham and 500 spam whose scores overlap near the top, as a filter's do.
    const draw = seededRandom(7);
    const results = [
      ...Array.from({ length: 2000 }, () => ({ spam: false, p: draw() ** 3 })),
      ...Array.from({ length: 500 }, () => ({ spam: true, p: 0.7 + 0.3 * draw() })),
    ];
    // The function draws from the ham sorted highest first and the spam lowest first, so the same random numbers
    // pick the same messages here.
    const ham = results.filter((r) => !r.spam).sort((a, b) => b.p - a.p);
    const spam = results.filter((r) => r.spam).sort((a, b) => a.p - b.p);
    // The definition: draw each class again with replacement (ham first, then spam, from the same generator), then
    // take the figure of each draw; 200 draws, so the middle 95% runs from the 6th-lowest figure to the 6th-highest.
    const random = seededRandom(3);
    const pick = <T,>(xs: T[]) => xs.map(() => xs[Math.floor(random() * xs.length)]);
    const byHand = Array.from({ length: 200 }, () => {
      const h = pick(ham);
      return spamCaughtAtHamRates([...h, ...pick(spam)], [0.005])[0];
    }).sort((a, b) => a - b);
    const [low, high] = spamCaughtInterval(results, 0.005, { resamples: 200, seed: 3 });
    assert.deepEqual([low, high], [byHand[Math.round(0.025 * 199)], byHand[Math.round(0.975 * 199)]]);
    const point = spamCaughtAtHamRates(results, [0.005])[0];
    assert.ok(low < point && point < high, `${low} < ${point} < ${high}`);
    assert.deepEqual(spamCaughtInterval(results, 0.005, { resamples: 200, seed: 3 }), [low, high], 'the same seed, the same interval');
    const apart = [{ spam: false, p: 0.1 }, { spam: false, p: 0.2 }, { spam: true, p: 0.8 }];
    assert.deepEqual(spamCaughtInterval(apart, 0.001), [100, 100], 'every draw of classes that do not overlap catches all spam');
  });
});
