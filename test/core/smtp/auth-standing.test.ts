// A distributed guessing attack on submission: guessers from many addresses each stay under the AUTH ban, and in one
// rotation of password checks a real user waited one check per guessing address (46 s behind 100 of them). Checks
// now wait by the client's standing (core/auth/auth-failures.ts, users-file.ts): a client with no failure goes ahead
// of every client with failures, one that logged in lately ahead of clients never seen, and clients with failures
// may have only so many checks waiting. Proved by the order of the log lines, not by time.
import assert from 'node:assert/strict';
import type { TestGateway } from '../../helpers/gateway.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { checksWaiting, MAX_WAITING_AFTER_FAILURES } from '../../../core/auth/users-file.ts';
import { plainAuth as plain, startSubmissionGateway, submissionSession } from './submission-auth.ts';

const GUESSERS = 50;

describe('AUTH checks by standing under guessing from many addresses', function () {
  this.timeout(120_000);
  let gw: TestGateway;
  // No ban and no error limit: each guesser keeps guessing, as ones spread wide enough never reach either.
  before(async () => { gw = await startSubmissionGateway({ max_auth_failures: 0, max_errors: 1_000_000 }); });
  after(async () => { await gw?.stop(); });

  const session = (localAddress: string) => submissionSession(gw, localAddress);

  const failed = (from = 0) => gw.logs.slice(from).filter((l) => l.msg === 'authentication failed');

  /** Alice's login from `ip`: its reply, and how many guesses were checked between her AUTH and her login's line. */
  async function login(ip: string): Promise<{ code: number; checkedAhead: number; loggedIn: number; stillWaiting: number }> {
    const alice = await session(ip);
    const askedAt = gw.logs.length;
    const reply = await alice.cmd(plain('alice', 'right-password'));
    const stillWaiting = checksWaiting('failing') + checksWaiting('new');
    const loggedIn = gw.logs.findIndex((l, i) => i >= askedAt && l.msg === 'authenticated' && l.client === ip);
    alice.hangUp();
    return { code: reply.code, checkedAhead: failed(askedAt).length - failed(loggedIn).length, loggedIn, stillWaiting };
  }

  it('checks a user without failures next, ahead of 50 guessers from distinct addresses that keep guessing', async () => {
    const guessers = await Promise.all(Array.from({ length: GUESSERS }, (_, i) => session(`127.6.0.${i + 1}`)));
    let stop = false;
    let mostWaiting = 0;
    const replies: Array<{ code: number; text: string }> = [];
    const guessing = guessers.map(async (d, g) => {
      for (let n = 0; !stop; n++) {
        const r = await d.cmd(plain('alice', `guess-${g}-${n}`));
        replies.push(r);
        mostWaiting = Math.max(mostWaiting, checksWaiting('failing'));
        // Refused without a check: tries again once a check has run, as the reply asks.
        if (r.code === 454) { const seen = failed().length; await waitUntil('a check to run', () => stop || failed().length > seen); }
      }
    });
    await waitUntil('every guesser to have failed once', () => new Set(failed().map((l) => l.client)).size === GUESSERS, 60_000);
    await waitUntil('the guessers\' checks to pile up', () => checksWaiting('failing') >= MAX_WAITING_AFTER_FAILURES - 4);
    const pile = checksWaiting('failing');
    const alice = await login('127.0.0.6');
    stop = true;
    await Promise.all(guessing);
    assert.equal(alice.code, 235);
    // The check running when she asked, and at most one more that started before her AUTH reached the gateway.
    assert.ok(alice.checkedAhead <= 2, `${alice.checkedAhead} guesses were checked before her login, with ${pile} waiting`);
    assert.ok(pile >= MAX_WAITING_AFTER_FAILURES - 4, `${pile} guesses were waiting when she asked`);
    assert.ok(alice.stillWaiting >= 10, `only ${alice.stillWaiting} guesses were waiting at her answer: they were not ahead of her`);
    // The guessers' waiting checks stay capped; the rest got 454 without a check.
    assert.ok(mostWaiting <= MAX_WAITING_AFTER_FAILURES, `${mostWaiting} checks waited`);
    const busy = replies.filter((r) => r.code === 454);
    assert.ok(busy.length > 0, 'some guesses found the waiting checks full');
    assert.ok(busy.every((r) => r.text === '4.7.0 Temporary authentication failure'), busy[0]?.text);
    assert.ok(replies.every((r) => r.code === 535 || r.code === 454), 'every guess was refused');
    assert.equal(gw.logs.filter((l) => l.msg === 'authentication refused: too many checks waiting from clients with failures').length, busy.length);
    assert.equal(gw.logs.filter((l) => l.msg === 'auth check failed').length, 0, 'a full line is not an error');
    for (const d of guessers) d.hangUp();
  });

  it('checks a user who logged in lately ahead of the first guesses of 50 addresses never seen before', async () => {
    assert.equal((await login('127.0.0.7')).code, 235);
    await waitUntil('the earlier guessers\' checks to drain', () => checksWaiting('failing') === 0 && checksWaiting('new') === 0);
    const fresh = await Promise.all(Array.from({ length: GUESSERS }, (_, i) => session(`127.6.1.${i + 1}`)));
    const start = gw.logs.length;
    const guesses = fresh.map((d, g) => d.cmd(plain('alice', `first-guess-${g}`)));
    await waitUntil('the fresh addresses\' guesses to wait', () => checksWaiting('new') >= GUESSERS - 10);
    const pile = checksWaiting('new');
    const alice = await login('127.0.0.7');
    const codes = (await Promise.all(guesses)).map((r) => r.code);
    assert.equal(alice.code, 235);
    assert.ok(alice.checkedAhead <= 2, `${alice.checkedAhead} first guesses were checked before her login, with ${pile} waiting`);
    assert.deepEqual(codes, Array(GUESSERS).fill(535), 'each first guess was checked and refused');
    const checkedAfter = failed(alice.loggedIn).length;
    assert.ok(checkedAfter >= pile - 2, `only ${checkedAfter} of ${pile} waiting guesses were checked after her login`);
    assert.equal(failed(start).length, GUESSERS);
    for (const d of fresh) d.hangUp();
  });
});
