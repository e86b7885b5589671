// limits.user_message_rate and user_recipient_rate: a stolen password used from many addresses is limited by its login,
// and users behind one NAT address no longer share one limit. Real clients log in on a submission listener from
// loopback addresses of their own; a real smarthost takes what is relayed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { UsersFile } from '../../core/auth/users-file.ts';
import { validateConfig } from '../../core/config/load.ts';
import { loggedInSession } from './smtp/submission-auth.ts';

describe('rate limits per logged-in user', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  const counter = (name: string) => gw.gateway.runtime.metrics.counters.get(name);
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        server: { submission_listen: ['127.0.0.1:0'], greeting_delay: 0 },
        limits: { user_message_rate: 2, user_recipient_rate: 4, message_rate: 1, rate_window: '1m', max_errors: 50 },
      },
    });
    const users = new UsersFile(path.join(gw.dataDir, 'users'));
    for (const u of ['alice', 'bob', 'carol', 'dave']) users.add(u, `${u}-password`);
  });
  after(() => gw?.stop());

  const loggedIn = (user: string, localAddress: string) => loggedInSession(gw.gateway.port('submission'), user, `${user}-password`, localAddress);

  /** One MAIL FROM's reply from a new session of `user` at `ip`. */
  async function mailFromAs(user: string, ip: string): Promise<{ code: number; text: string }> {
    const d = await loggedIn(user, ip);
    const r = await d.cmd(`MAIL FROM:<${user}@example.com>`);
    await d.quit();
    return r;
  }

  it('counts a login over all its addresses, and tells of its reaching the limit once', async () => {
    assert.equal(counter('user_rate_limits_reached'), 0, 'exported at 0 from the start');
    assert.equal((await mailFromAs('alice', '127.0.0.2')).code, 250);
    assert.equal((await mailFromAs('alice', '127.0.0.3')).code, 250);
    const third = await mailFromAs('alice', '127.0.0.4');
    assert.equal(third.code, 450);
    assert.equal(third.text, '4.7.1 Message rate limit exceeded for user alice');
    assert.equal((await mailFromAs('alice', '127.0.0.5')).code, 450, 'a fourth address is no way round it');
    const reached = gw.logs.filter((l) => l.msg === 'user rate limit reached');
    assert.equal(reached.length, 1, 'one line for the user, not one per refusal');
    assert.equal(reached[0].level, 'warn');
    assert.equal(reached[0].user, 'alice');
    assert.equal(reached[0].client, '127.0.0.4');
    assert.equal(reached[0].limit, 'limits.user_message_rate');
    assert.equal(reached[0].max, 2);
    assert.equal(counter('user_rate_limits_reached'), 1);
    const refusals = gw.logs.filter((l) => l.msg === 'sender refused' && l.user === 'alice');
    assert.deepEqual(refusals.map((l) => l.limit), ['limits.user_message_rate', 'limits.user_message_rate']);
  });

  it('gives users behind one address each their own count, and leaves the address\'s own limit to clients without a login', async () => {
    // alice used up her count from 127.0.0.2; bob there has his own, and neither was counted toward message_rate (1).
    assert.equal((await mailFromAs('bob', '127.0.0.2')).code, 250);
    assert.equal((await mailFromAs('bob', '127.0.0.2')).code, 250);
    const anon = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.2' });
    await anon.hello();
    assert.equal((await anon.cmd('MAIL FROM:<someone@client.example>')).code, 250, 'the address has its whole message_rate left');
    await anon.cmd('RSET');
    const over = await anon.cmd('MAIL FROM:<someone@client.example>');
    assert.equal(over.code, 450);
    assert.equal(over.text, '4.7.1 Message rate limit exceeded for your address, try again later');
    await anon.quit();
  });

  it('refuses RCPT TO over the user\'s recipient rate and relays the recipients taken', async () => {
    const d = await loggedIn('carol', '127.0.0.7');
    assert.equal((await d.cmd('MAIL FROM:<carol@example.com>')).code, 250);
    const codes: number[] = [];
    for (let i = 1; i <= 5; i++) codes.push((await d.cmd(`RCPT TO:<friend${i}@elsewhere.example>`)).code);
    assert.deepEqual(codes, [250, 250, 250, 250, 450]);
    assert.equal((await d.data(testMessage({ from: 'carol@example.com', subject: 'carol-rcpts' }))).code, 250);
    await d.quit();
    await gw.sink.waitForText('carol-rcpts');
    const got = gw.sink.messages.find((m) => m.raw.toString('latin1').includes('carol-rcpts'));
    assert.equal(got?.rcptTo.length, 4);
    const line = gw.logs.find((l) => l.msg === 'recipient refused' && l.user === 'carol');
    assert.equal(line?.reply, '450 4.7.1 Recipient rate limit exceeded for user carol');
    assert.ok(gw.logs.some((l) => l.msg === 'user rate limit reached' && l.user === 'carol' && l.limit === 'limits.user_recipient_rate'));
    assert.equal(counter('user_rate_limits_reached'), 2);
  });

  it('counts a logged-in client by its address again once the user limit is 0', async () => {
    const running = gw.gateway.runtime.config;
    assert.equal(await gw.gateway.reload(await validateConfig({ ...running, limits: { ...running.limits, user_message_rate: 0 } })), true);
    const d = await loggedIn('dave', '127.0.0.8');
    assert.equal((await d.cmd('MAIL FROM:<dave@example.com>')).code, 250);
    await d.cmd('RSET');
    const over = await d.cmd('MAIL FROM:<dave@example.com>');
    assert.equal(over.text, '4.7.1 Message rate limit exceeded for your address, try again later');
    await d.quit();
  });
});
