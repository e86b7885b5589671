// The regex threads themselves (real worker threads): a message's deadline counts its own running time, not the time
// it waited behind other messages, and waiting is bounded apart.
import assert from 'node:assert/strict';
import { RegexThread } from '../../../plugins/rules/regex-thread.ts';

const regexes = [{ id: 1, source: '(a+)+$', flags: 'i' }];
const hostile = [{ id: 1, inputs: ['a'.repeat(40) + '!'] }];
const plain = [{ id: 1, inputs: ['hello there'] }];

describe('plugins/rules/regex-thread', function () {
  this.timeout(30_000);

  it('answers a plain job queued in the same instant behind 6 hostile ones, each of which is cut off at its deadline', async () => {
    const thread = new RegexThread(regexes, 300, 5_000);
    try {
      const started = Date.now();
      const burst = Array.from({ length: 6 }, () => thread.run(hostile));
      const answer = await thread.run(plain);
      const ms = Date.now() - started;
      // Old: every job's deadline ran from its call, so the plain job's time was gone when a thread came free.
      assert.equal(answer.timedOut, false);
      assert.equal(answer.results.get(1), false);
      // Three rounds of two hostile jobs, each held a thread for 300 ms, then the plain one.
      assert.ok(ms >= 850 && ms < 4_000, `answered after ${ms} ms`);
      for (const h of await Promise.all(burst)) { assert.equal(h.timedOut, true); assert.equal(h.waited, undefined); assert.equal(h.results.size, 0); }
    } finally { await thread.close(); }
  });

  it('serves other clients before a client whose batch ran to its deadline, and that client in one thread at most', async () => {
    const thread = new RegexThread(regexes, 1_000, 5_000);
    try {
      const started = Date.now();
      // 12 crafted batches of one client: 6 s of both threads in arrival order.
      const burst = Array.from({ length: 12 }, () => thread.run(hostile, '192.0.2.66'));
      const first = await thread.run(plain, '198.51.100.1');
      const firstMs = Date.now() - started;
      // Queued behind the whole burst in the same instant, it waits only for the two batches already running.
      assert.equal(first.results.get(1), false);
      assert.equal(first.slowClient, undefined);
      assert.ok(firstMs < 2_000, `the first plain batch waited ${firstMs} ms`);
      // Now the crafted client is known: one thread stays free for everyone else, with no deadline or load to wait for.
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 3; i++) {
        const at = Date.now();
        const again = await thread.run(plain, `198.51.100.${2 + i}`);
        assert.equal(again.results.get(1), false);
        assert.ok(Date.now() - at < 500, `a plain batch waited ${Date.now() - at} ms behind the known slow client`);
        await new Promise((r) => setTimeout(r, 150));
      }
      const answers = await Promise.all(burst);
      assert.ok(answers.every((a) => a.timedOut), 'every crafted batch timed out');
      assert.ok(answers.some((a) => a.slowClient), 'the later crafted batches waited as a slow client');
    } finally { await thread.close(); }
  });

  it('answers a job that found no free thread within the wait bound at that bound, as waited', async () => {
    const thread = new RegexThread(regexes, 2_000, 200);
    try {
      const burst = [thread.run(hostile), thread.run(hostile)];
      const started = Date.now();
      const answer = await thread.run(plain);
      const ms = Date.now() - started;
      assert.deepEqual(answer, { results: new Map(), timedOut: true, waited: true });
      assert.ok(ms >= 190 && ms < 1_000, `answered after ${ms} ms`);
      await Promise.all(burst);
      // The threads that were cut off are replaced: the next job is judged.
      assert.equal((await thread.run(plain)).results.get(1), false);
    } finally { await thread.close(); }
  });
});
