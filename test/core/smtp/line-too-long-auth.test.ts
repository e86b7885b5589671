// An overlong line where smtp-server would not have read it as a command: as the answer to an AUTH 334 (the exchange
// ends with RFC 4954's 500 5.5.6, and the next command is a command, not credentials counted as a failed login), and
// behind a line that starts with DATA or BDAT without a message following (500 5.5.2, the session goes on, where
// smtp-server's parser answered 421 4.4.2 and closed). Real gateway, raw client sessions over STARTTLS.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { plainAuth, startSubmissionGateway, submissionSession } from './submission-auth.ts';

const line = (r: { code: number; text: string }) => `${r.code} ${r.text}`;
const LONG = 'x'.repeat(70 * 1024);
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('an overlong line during AUTH', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => { gw = await startSubmissionGateway({ max_errors: 20 }); });
  after(() => gw?.stop());

  const authLogLines = () => gw.logs.filter((l) => /^authenticat/.test(String(l.msg)));

  it('ends an AUTH PLAIN exchange with 500 5.5.6: the next command is not taken as credentials', async () => {
    const d = await submissionSession(gw, '127.0.0.2');
    assert.equal((await d.cmd('AUTH PLAIN')).code, 334);
    assert.equal(line(await d.cmd(LONG)), '500 5.5.6 Authentication exchange line is too long');
    const mail = await d.cmd('MAIL FROM:<alice@example.com>');
    assert.notEqual(mail.code, 535, line(mail));
    assert.equal(mail.code, 530, 'a command again, refused for want of a login');
    assert.equal((await d.cmd(plainAuth('alice', 'right-password'))).code, 235, 'a new exchange starts cleanly');
    await d.quit();
    assert.deepEqual(authLogLines().map((l) => l.msg), ['authenticated'], 'no failed login was logged');
  });

  it('ends an AUTH LOGIN exchange at its password step the same way; QUIT then gets its 221', async () => {
    const before = authLogLines().length;
    const d = await submissionSession(gw, '127.0.0.3');
    assert.equal((await d.cmd('AUTH LOGIN')).code, 334);
    assert.equal((await d.cmd(b64('alice'))).code, 334, 'the password prompt');
    d.write(`${LONG}\r\nQUIT\r\n`);
    assert.equal(line(await d.read()), '500 5.5.6 Authentication exchange line is too long');
    assert.equal((await d.read()).code, 221);
    await waitFor('the connection to close', () => (d.closed ? true : undefined));
    assert.equal(authLogLines().length, before, 'nothing was checked as a password');
  });

  it('reads the lines behind a 334 answer that starts with DATA as commands, and an overlong one among them gets 500', async () => {
    const d = await submissionSession(gw, '127.0.0.4');
    assert.equal((await d.cmd('AUTH PLAIN')).code, 334);
    d.write(`DATAbm90IGEgbWVzc2FnZQ==\r\nNOOP ${LONG}\r\nNOOP\r\n`);
    assert.equal((await d.read()).code, 501, 'the answer is no PLAIN token');
    assert.equal(line(await d.read()), '500 5.5.2 Error: line too long');
    assert.equal((await d.read()).code, 250, 'the NOOP behind it is answered: the session goes on');
    await d.quit();
  });
});

describe('an overlong line behind DATA or BDAT in the same packet', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => { gw = await startGateway({ config: { server: { greeting_delay: 0 } } }); });
  after(() => gw?.stop());

  async function greeted(): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello()).code, 250);
    return d;
  }

  it('after a refused BDAT (CHUNKING is not offered) gets 500 5.5.2 and the session goes on', async () => {
    const d = await greeted();
    d.write(`BDAT 100 LAST\r\nNOOP ${LONG}\r\nNOOP\r\n`);
    assert.equal((await d.read()).code, 500, 'BDAT is no command here');
    assert.equal(line(await d.read()), '500 5.5.2 Error: line too long');
    assert.equal((await d.read()).code, 250);
    await d.quit();
    assert.ok(!gw.logs.some((l) => l.reason === 'command line too long'), 'no drop was logged');
  });

  it('after DATA is never read as a message: the DATA is refused unread for its early input, as any pipelined message is', async () => {
    const d = await greeted();
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    d.write(`DATA\r\n${LONG}\r\nNOOP\r\n`);
    assert.match(line(await d.read()), /^554 5\.5\.0 Protocol synchronization error/);
    await waitFor('the connection to close', () => (d.closed ? true : undefined));
  });
});
