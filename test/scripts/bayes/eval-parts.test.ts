// The eval script's parts: deterministic split, X-Spam-* stripping, ROC area and rates, mbox splitting.
import assert from 'node:assert/strict';
import { inTraining, stripSpamHeaders } from '../../../scripts/bayes/corpus.ts';
import { figures, rocArea, spamCaughtAtHamRates } from '../../../scripts/bayes/metrics.ts';
import { splitMbox } from '../../../scripts/bayes/mail-folders.ts';

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

  it('splits an mbox and unquotes >From lines', () => {
    const parts = splitMbox(Buffer.from('From a\nSubject: 1\n\n>From here\n\nFrom b\nSubject: 2\n\nbody\n'));
    assert.equal(parts.length, 2);
    assert.match(parts[0].toString(), /^Subject: 1\n\nFrom here/);
  });
});
