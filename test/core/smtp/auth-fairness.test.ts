// Password checks are shared out among clients in turn: a guesser with a pile of AUTH attempts queued ahead of a real
// user's login gets one more turn, not all of them, before the user's check runs (core/auth/fair-turns.ts).
import assert from 'node:assert/strict';
import type { TestGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { plainAuth as plain, startSubmissionGateway, submissionSession } from './submission-auth.ts';

const GUESSES = 24;

describe('AUTH checks shared out among clients', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  // No ban, so the guesser's whole pile reaches the password check.
  before(async () => { gw = await startSubmissionGateway({ max_auth_failures: 0, max_connections_per_ip: GUESSES + 5 }); });
  after(async () => { await gw?.stop(); });

  const session = (localAddress: string) => submissionSession(gw, localAddress);

  const failures = (from: number) => gw.logs.slice(from).filter((l) => l.msg === 'authentication failed').length;

  it('runs a real user\'s check after at most one more of a guesser\'s queued checks, not after the whole pile', async () => {
    const guesser = await Promise.all(Array.from({ length: GUESSES }, () => session('127.0.0.2')));
    const alice = await session('127.0.0.1');
    const start = gw.logs.length;
    const guesses = guesser.map((d, i) => d.cmd(plain('alice', `guess-${i}`)));
    // The first guess is being checked, so the others are queued behind it.
    await waitFor('the first guess to be checked and fail', () => failures(start) >= 1 || undefined);
    const askedAt = gw.logs.length;
    const login = await alice.cmd(plain('alice', 'right-password'));
    assert.equal(login.code, 235);
    const loggedIn = gw.logs.findIndex((l, i) => i >= askedAt && l.msg === 'authenticated');
    assert.ok(loggedIn >= 0);
    const ahead = gw.logs.slice(askedAt, loggedIn).filter((l) => l.msg === 'authentication failed').length;
    const codes = (await Promise.all(guesses)).map((r) => r.code);
    assert.deepEqual(codes, Array(GUESSES).fill(535), 'every guess was checked and refused');
    const after = gw.logs.slice(loggedIn).filter((l) => l.msg === 'authentication failed').length;
    // The check in progress and the guesser's turn already in the rotation; the rest of its pile waits.
    assert.ok(ahead <= 2, `${ahead} guesses were checked between the login's AUTH and its answer`);
    assert.ok(after >= GUESSES / 2, `only ${after} guesses were left after the login: the pile was not queued ahead of it`);
    for (const d of [...guesser, alice]) d.hangUp();
  });
});
