// Password checks are shared out among clients in turn: a guesser with a pile of AUTH attempts queued ahead of a real
// user's login gets one more turn, not all of them, before the user's check runs (core/auth/fair-turns.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';

const plain = (u: string, p: string) => `AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`;
const GUESSES = 24;

describe('AUTH checks shared out among clients', function () {
  this.timeout(60_000);
  let scratch: string;
  let gw: TestGateway;
  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mm-authfair-'));
    const usersFile = path.join(scratch, 'users');
    new UsersFile(usersFile).add('alice', 'right-password');
    gw = await startGateway({
      config: {
        server: { submission_listen: ['127.0.0.1:0'] }, auth: { users_file: usersFile },
        // No ban, so the guesser's whole pile reaches the password check.
        limits: { max_auth_failures: 0, max_connections_per_ip: GUESSES + 5 },
      },
    });
  });
  after(async () => { await gw?.stop(); rmSync(scratch, { recursive: true, force: true }); });

  async function session(localAddress: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.gateway.port('submission'), '127.0.0.1', { localAddress });
    await d.hello();
    assert.equal((await d.starttls()).code, 220);
    await d.cmd('EHLO client.test');
    return d;
  }

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
