// The readiness rounds as pure logic: one round for many probes, results kept for a while, checks run side by side,
// a check that breaks or overruns shown without taking the gateway out, and the answer each outcome gives.
// (Against a real clamd and Redis: health-dependencies.test.ts.)
import assert from 'node:assert/strict';
import { Readiness, readinessAnswer, type CheckReport, type DependencyCheck } from '../../../core/http/readiness.ts';
import type { HealthProblem } from '../../../core/plugin/define.ts';

/** A check whose answers the test gives, one per run, counting its runs. */
class HeldCheck implements DependencyCheck {
  readonly name: string;
  runs = 0;
  private readonly pending: Array<(v: HealthProblem | undefined) => void> = [];
  constructor(name: string) { this.name = name; }
  run(): Promise<HealthProblem | undefined> {
    this.runs++;
    return new Promise((resolve) => this.pending.push(resolve));
  }
  answer(v?: HealthProblem): void { this.pending.shift()!(v); }
  get waiting(): number { return this.pending.length; }
}

describe('readiness rounds', () => {
  it('answers every probe that comes during a round from that one round', async () => {
    const check = new HeldCheck('plugin clamav');
    const readiness = new Readiness(() => [check]);
    const probes = Array.from({ length: 25 }, () => readiness.report());
    assert.equal(check.runs, 1);
    check.answer({ problem: 'clamd at unix:/x: ENOENT', effect: 'tempfail' });
    const answers = await Promise.all(probes);
    for (const a of answers) assert.deepEqual(a, [{ name: 'plugin clamav', status: 'tempfail', problem: 'clamd at unix:/x: ENOENT' }]);
  });

  it('keeps a round\'s results for keepMs, then runs a new round', async () => {
    let clock = 1000;
    const check = new HeldCheck('state store');
    const readiness = new Readiness(() => [check], { keepMs: 2000, now: () => clock });
    const first = readiness.report();
    check.answer();
    assert.deepEqual(await first, [{ name: 'state store', status: 'ok' }]);
    clock += 1999;
    assert.deepEqual(await readiness.report(), [{ name: 'state store', status: 'ok' }]);
    assert.equal(check.runs, 1);
    clock += 1;
    const second = readiness.report();
    assert.equal(check.runs, 2);
    check.answer({ problem: 'down', effect: 'degraded' });
    assert.deepEqual(await second, [{ name: 'state store', status: 'degraded', problem: 'down' }]);
  });

  it('runs the checks side by side, each given the timeout', async () => {
    const given: number[] = [];
    const a = new HeldCheck('plugin clamav');
    const b = new HeldCheck('state store');
    const spy = (c: HeldCheck): DependencyCheck => ({ name: c.name, run: (ms) => { given.push(ms); return c.run(); } });
    const readiness = new Readiness(() => [spy(a), spy(b)], { timeoutMs: 1000 });
    const round = readiness.report();
    assert.deepEqual([a.waiting, b.waiting], [1, 1], 'the second started before the first answered');
    assert.deepEqual(given, [1000, 1000]);
    b.answer();
    a.answer();
    assert.deepEqual((await round).map((r) => r.status), ['ok', 'ok']);
  });

  it('shows a check that throws or overruns its bound as degraded: it says nothing of the dependency itself', async () => {
    const readiness = new Readiness(() => [
      { name: 'plugin broken', run: () => Promise.reject(new Error('boom')) },
      { name: 'plugin stuck', run: () => new Promise<never>(() => undefined) },
    ], { timeoutMs: 10 });
    assert.deepEqual(await readiness.report(), [
      { name: 'plugin broken', status: 'degraded', problem: 'the check itself failed: boom' },
      { name: 'plugin stuck', status: 'degraded', problem: 'the check itself gave no answer within 510 ms' },
    ]);
  });
});

describe('readiness answer', () => {
  const ok: CheckReport = { name: 'state store', status: 'ok' };
  const deferring: CheckReport = { name: 'plugin clamav', status: 'tempfail', problem: 'clamd at unix:/x: ENOENT; mail is deferred (on_error: tempfail)' };
  const degraded: CheckReport = { name: 'state store', status: 'degraded', problem: 'cannot reach it; checks that use it do without' };

  it('is 200 ok, without checks, for a gateway that has none', () => {
    assert.deepEqual(readinessAnswer(undefined, []), { status: 200, body: { status: 'ok' } });
  });

  it('gives the gateway\'s own reason first', () => {
    assert.deepEqual(readinessAnswer('stopping', []), { status: 503, body: { status: 'unavailable', reason: 'stopping' } });
  });

  it('is 503 naming each check that makes mail wait, with every check', () => {
    const second = { ...deferring, name: 'plugin clamav #2' };
    assert.deepEqual(readinessAnswer(undefined, [deferring, degraded, second]), {
      status: 503,
      body: { status: 'unavailable', reason: `plugin clamav: ${deferring.problem}; plugin clamav #2: ${deferring.problem}`, checks: [deferring, degraded, second] },
    });
  });

  it('is 200 degraded when failures only weaken filtering, 200 ok when all pass', () => {
    assert.deepEqual(readinessAnswer(undefined, [ok, degraded]), { status: 200, body: { status: 'degraded', checks: [ok, degraded] } });
    assert.deepEqual(readinessAnswer(undefined, [ok]), { status: 200, body: { status: 'ok', checks: [ok] } });
  });
});
