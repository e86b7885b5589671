// `moat check` of a user's outgoing mail, against a real gateway relaying to a recording smarthost: without a login a
// message to another domain is refused as a relay; with --user (or an --ip in relay.networks) it goes through the
// chain as that user's, and the report shows what the rules changed (the attachments taken out, the disclaimer) and
// the DKIM signature it would get, with a key `moat dkim keygen` made. A real send as that user then leaves as the
// check said, and the check itself relayed nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { holdUntilExit } from '../helpers/leftovers.ts';
import type { DnsTestServer } from '../helpers/dns-server.ts';
import { UsersFile } from '../../core/auth/users-file.ts';
import { socketPath } from '../../core/control/protocol.ts';
import type { CheckReport } from '../../core/smtp/check-transaction.ts';
import { publish, verify } from '../core/dkim/dkim-setup.ts';
import { PROGRAM } from '../core/message/zip-builder.ts';
import { loggedInSession } from '../core/smtp/submission-auth.ts';
import { message, multipart, part } from '../plugins/rules/mime-build.ts';
import { moat, type Ran } from './moat-cli.ts';

const DISCLAIMER = 'Example GmbH, Berlin. This message is confidential.';
/** In relay.networks: a server of our own sending out. */
const OUR_SERVER = '192.0.2.10';
/** Anyone else. */
const STRANGER = '198.51.100.7';

/** An attached file: text as it is, anything else in base64. */
function attached(name: string, type: string, data: Buffer | string): string {
  const headers = [`Content-Type: ${type}; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`];
  if (typeof data === 'string') return part(headers, data);
  return part([...headers, 'Content-Transfer-Encoding: base64'], data.toString('base64').replace(/(.{76})(?=.)/g, '$1\r\n'));
}

/** Alice's mail out: a note, a program, a program dressed as a PDF, and notes that stay. */
const outgoing = (subject: string) => message(subject, multipart('mixed', 'out-b', [
  part(['Content-Type: text/plain; charset=us-ascii'], 'the files you asked for'),
  attached('setup.exe', 'application/octet-stream', PROGRAM),
  attached('invoice.pdf', 'application/pdf', PROGRAM),
  attached('notes.txt', 'text/plain; charset=us-ascii', 'agenda: budget, hiring'),
]), 'alice@example.com', 'someone@remote.example');

const plain = (subject: string, to = 'someone@remote.example') => message(subject, part(['Content-Type: text/plain; charset=us-ascii'], 'hello'), 'alice@example.com', to);

describe('moat check: outgoing mail (--user, relay.networks), the rules\' changes and the DKIM plan', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  let dns: DnsTestServer;
  let dir: string;
  let end: () => void;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-check-out-'));
    end = holdUntilExit({ dir });
    const keyFile = path.join(dir, 'example.com.s1.key');
    const keygen = await moat(['dkim', 'keygen', 'example.com', 's1', '--type', 'ed25519', '--out', keyFile]);
    assert.equal(keygen.code, 0, keygen.stderr);
    // The zone line's quoted strings, joined, are the TXT record a receiver reads.
    dns = await publish('example.com', { s1: [...keygen.stdout.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('') });
    gw = await startRelayingGateway({
      config: {
        server: { submission_listen: ['127.0.0.1:0'], greeting_delay: 0 },
        relay: { networks: [`${OUR_SERVER}/32`] },
        dkim: { domains: { 'example.com': { selector: 's1', key_file: keyFile } } },
        plugins: [{ name: 'rules', rules: [
          {
            name: 'strip-exe', description: 'programs are not sent by mail',
            when: { any: [{ attachment: { name: ['*.exe'] } }, { attachment: { type: 'application/x-dosexec' } }] },
            actions: [{ remove_attachments: { notice: 'Programs were taken out.' } }],
          },
          { name: 'footer', when: { authenticated: true }, actions: [{ disclaimer: DISCLAIMER }] },
        ] }],
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  });
  after(async () => {
    await gw?.stop();
    await dns?.stop();
    end?.();
  });

  /** `moat check -` of `raw` on stdin, with LF line ends as a saved message usually has them. */
  const check = (raw: string, extra: string[]): Promise<Ran> => moat(['check', '--set', `data_dir=${gw.dataDir}`, '-', ...extra], raw.replace(/\r\n/g, '\n'));

  const leftBehind = () => [...readdirSync(path.join(gw.dataDir, 'queue')), ...readdirSync(gw.dataDir).filter((f) => f.startsWith('check-'))];

  it('refuses mail to another domain without a login, as the gateway refuses a stranger', async () => {
    const r = await check(outgoing('no-login'), []);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}rcptTo someone@remote\.example\s+\S+\s+-\s+554 5\.7\.1 Relay access denied/m);
    assert.match(r.stdout, /^verdict: reject /m);
    assert.match(r.stdout, /^dkim: would not sign: the message would not be accepted$/m);
    assert.doesNotMatch(r.stdout, /^message changes/m, 'nothing leaves, so nothing changed');
  });

  it('checks it as the user\'s with --user: the attachments taken out, the disclaimer and the signature; a real send leaves so', async () => {
    const text = await check(outgoing('as-alice'), ['--user', 'alice']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^client: ip=127\.0\.0\.1 helo=\[127\.0\.0\.1\] user=alice$/m);
    assert.match(text.stdout, /^ {2}rcptTo someone@remote\.example\s+continue\s+-\s+250/m);
    assert.match(text.stdout, /^ {2}attachments taken out: setup\.exe, invoice\.pdf$/m);
    assert.match(text.stdout, /^ {2}rules\s+info\s+rule matched\s+rule=strip-exe /m);
    assert.match(text.stdout, /^ {2}rules\s+info\s+rules: attachments removed\s+rule=strip-exe\s+removed=setup\.exe,invoice\.pdf$/m);
    assert.match(text.stdout, /^ {2}rules\s+info\s+rules: disclaimer added\s+rule=footer /m);
    assert.match(text.stdout, /^dkim: would sign as d=example\.com s=s1$/m);
    assert.doesNotMatch(text.stdout, /^note: user/m, 'alice is in the users file');

    const json = await check(outgoing('as-alice-json'), ['--user', 'alice', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.equal(report.envelope.user, 'alice');
    assert.equal(report.action, 'accept');
    assert.deepEqual(report.rewrite?.attachmentsRemoved, ['setup.exe', 'invoice.pdf']);
    assert.ok(report.rewrite.leavingBytes < report.rewrite.sentBytes, JSON.stringify(report.rewrite));
    assert.deepEqual(report.dkim, { signs: true, domain: 'example.com', selector: 's1' });
    assert.equal(report.summary?.dkim, 'example.com/s1');
    // The checks relayed, queued and left nothing.
    assert.equal(gw.sink.messages.length, 0);
    assert.deepEqual(leftBehind(), []);

    const c = await loggedInSession(gw.gateway.port('submission'), 'alice', 'right-password');
    try {
      assert.equal((await c.cmd('MAIL FROM:<alice@example.com>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<someone@remote.example>')).code, 250);
      assert.equal((await c.data(outgoing('as-alice-real'))).code, 250);
    } finally {
      await c.quit();
    }
    const relayed = Buffer.from(await gw.sink.waitForText('Subject: as-alice-real'), 'latin1');
    const mail = await simpleParser(relayed);
    assert.deepEqual(mail.attachments.map((a) => a.filename), ['notes.txt']);
    assert.ok(mail.text?.includes(DISCLAIMER), mail.text);
    assert.deepEqual((await verify(relayed, dns)).map((v) => [v.domain, v.selector, v.result]), [['example.com', 's1', 'pass']]);
  });

  it('checks mail from relay.networks with --ip, and says why a stranger\'s mail would not be signed', async () => {
    const ours = await check(plain('from-our-server'), ['--ip', OUR_SERVER]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.match(ours.stdout, /^ {2}rcptTo someone@remote\.example\s+continue/m);
    assert.match(ours.stdout, /^message changes: none \(the body leaves as sent\)$/m);
    assert.match(ours.stdout, /^plugin lines:\n {2}\(none\)$/m, 'footer is for logged-in users only');
    assert.match(ours.stdout, /^dkim: would sign as d=example\.com s=s1$/m);

    const stranger = await check(plain('from-a-stranger', 'ann@example.com'), ['--ip', STRANGER]);
    assert.equal(stranger.code, 0, stranger.stderr);
    assert.match(stranger.stdout, /^verdict: accept /m);
    assert.match(stranger.stdout, /^dkim: would not sign: the client is not one dkim\.sign_for names \(authenticated, relay_networks\)/m);
  });

  it('takes a name as given (noting one not in the users file), refuses one that is no name, and only the gateway\'s user reaches the socket', async () => {
    const unknown = await check(plain('as-bob'), ['--user', 'bob']);
    assert.equal(unknown.code, 0, unknown.stderr);
    assert.match(unknown.stdout, /^note: user "bob" is not in the users file/m);
    assert.match(unknown.stdout, /^ {2}rcptTo someone@remote\.example\s+continue/m);

    const bad = await check(plain('as-nobody'), ['--user', 'a b']);
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /not a user name: "a b"/);

    assert.equal(statSync(socketPath(gw.dataDir)).mode & 0o777, 0o600);
    assert.equal(gw.sink.messages.filter((m) => m.raw.includes('as-bob')).length, 0);
  });
});
