// For the AUTH tests: a gateway with a submission listener and one user, alice, whose password is `right-password`,
// and client sessions on it after STARTTLS, from a loopback address of the test's choosing.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';

export const plainAuth = (user: string, password: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`;

/** `limits` merged over the defaults; the users file is data_dir's own, read at each check. */
export async function startSubmissionGateway(limits: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway({ config: { server: { submission_listen: ['127.0.0.1:0'], greeting_delay: 0 }, limits } });
  new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  return gw;
}

/** A session from `localAddress`, greeted, over TLS, and past EHLO: ready for AUTH. */
export async function submissionSession(gw: TestGateway, localAddress: string): Promise<SmtpDialog> {
  const d = await SmtpDialog.connect(gw.gateway.port('submission'), '127.0.0.1', { localAddress });
  await d.hello();
  assert.equal((await d.starttls()).code, 220);
  await d.cmd('EHLO client.test');
  return d;
}

/** A session on the submission listener at `port`, from `localAddress` when given, logged in as `user` (235 asserted). */
export async function loggedInSession(port: number, user: string, password: string, localAddress?: string): Promise<SmtpDialog> {
  const d = await SmtpDialog.connect(port, '127.0.0.1', localAddress ? { localAddress } : {});
  await d.hello();
  assert.equal((await d.starttls()).code, 220);
  await d.cmd('EHLO laptop.test');
  assert.equal((await d.cmd(plainAuth(user, password))).code, 235, `AUTH as ${user}`);
  return d;
}
