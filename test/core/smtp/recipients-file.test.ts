// End to end: access.recipients_file (Postfix's relay_recipient_maps) refuses a local domain's unknown mailbox at RCPT
// with 550 5.1.1, matches listed ones by mailbox, is read anew by a reload and only then, keeps its table through a
// reload that cannot read it, and stops a start that cannot.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfig, ConfigError } from '../../../core/config/load.ts';
import { startGateway, startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const ACCEPTED = '250 2.1.5 Accepted';
const UNKNOWN = (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in relay recipient table`;

describe('access.recipients_file', function () {
  this.timeout(30_000);
  let dir: string;
  let end: () => void;
  let file: string;
  let gw: RelayingGateway;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rcpt-table-'));
    end = holdUntilExit({ dir });
    file = path.join(dir, 'relay_recipients');
    // A Postfix relay_recipients source file as it is: a value after each key, comments, a catch-all domain.
    writeFileSync(file, '# mailboxes of the server behind\nalice@example.com OK\n  Bob@Example.COM\tOK\n\n@catchall.example.com OK\n');
    gw = await startRelayingGateway({ config: {
      domains: ['example.com', 'catchall.example.com'],
      relay: { networks: ['192.0.2.10/32'] },
      access: { recipients_file: file },
    } });
  });
  after(async () => {
    await gw?.stop();
    end();
  });

  /** The RCPT replies of one transaction from `ip` (named by XCLIENT: the test gateway trusts loopback as a proxy). */
  async function rcpts(to: string[], ip = '198.51.100.5'): Promise<string[]> {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello({ xclient: { addr: ip } });
    assert.equal((await c.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    const replies = [];
    for (const t of to) { const r = await c.cmd(`RCPT TO:<${t}>`); replies.push(`${r.code} ${r.text}`); }
    await c.quit();
    return replies;
  }

  it('takes a listed mailbox in any spelling and any address of a listed @domain, and relays it', async () => {
    const listed = ['alice@example.com', 'ALICE+news@example.com', '"bob"@example.com', 'bob+x@EXAMPLE.com', 'anyone@catchall.example.com'];
    assert.deepEqual((await rcpts(listed)).map((r) => r.slice(0, 3)), listed.map(() => '250'));
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<sender@client.example>');
    assert.equal((await c.cmd('RCPT TO:<Alice+news@example.com>')).code, 250);
    assert.equal((await c.data(testMessage({ to: 'Alice+news@example.com' }))).code, 250);
    await c.quit();
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['Alice+news@example.com'], 'delivered to the address as the client gave it');
  });

  it('refuses an unlisted mailbox of a local domain with 550 5.1.1 at RCPT, and not a foreign one a trusted client relays', async () => {
    assert.deepEqual(await rcpts(['carol@example.com', 'alicex@example.com', 'alice@example.com']),
      [UNKNOWN('carol@example.com'), UNKNOWN('alicex@example.com'), ACCEPTED]);
    assert.deepEqual(await rcpts(['someone@foreign.example'], '192.0.2.10'), [ACCEPTED]);
    const line = gw.logs.find((l) => l.msg === 'recipient refused' && l.reason === 'access.recipients_file');
    assert.deepEqual([line?.client, line?.to], ['198.51.100.5', ['carol@example.com']]);
  });

  it('reads the file again at a reload, not when it changes; a reload that cannot read it keeps the old table', async () => {
    writeFileSync(file, 'alice@example.com\nbob@example.com\ncarol@example.com\n');
    assert.deepEqual(await rcpts(['carol@example.com']), [UNKNOWN('carol@example.com')], 'an edit alone changes nothing');
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), true);
    assert.deepEqual(await rcpts(['carol@example.com', 'anyone@catchall.example.com']), [ACCEPTED, UNKNOWN('anyone@catchall.example.com')]);

    rmSync(file);
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), false);
    const refused = gw.logs.find((l) => l.msg === 'config reload refused: the running config is kept');
    assert.deepEqual(refused?.errors, [`access.recipients_file: cannot read ${file}: ENOENT`]);
    assert.deepEqual(await rcpts(['carol@example.com', 'dave@example.com']), [ACCEPTED, UNKNOWN('dave@example.com')], 'the table read last is kept');

    writeFileSync(file, '# emptied by mistake\n');
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), false);
    assert.deepEqual(await rcpts(['carol@example.com']), [ACCEPTED]);
  });

  it('stops a start that cannot read the file, and names what is wrong in one that has bad lines or none', async () => {
    const missing = path.join(dir, 'missing');
    await assert.rejects(startGateway({ config: { access: { recipients_file: missing } } }),
      (e: Error) => e instanceof ConfigError && e.message.includes(`access.recipients_file: cannot read ${missing}: ENOENT`));
    const problem = async (text: string) => {
      const f = path.join(dir, 'checked');
      writeFileSync(f, text);
      try { await validateConfig({ access: { recipients_file: f } }); return undefined; } catch (e) { return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`); }
    };
    assert.deepEqual(await problem('alice@example.com\nbob\nx@\n'), [
      `access.recipients_file: ${path.join(dir, 'checked')}: line 2: "bob" has no @: write user@bob for one address, or @bob for every address of that domain; line 3: "x@" has no domain after the @`,
    ]);
    assert.deepEqual(await problem('\n# nobody yet\n'), [`access.recipients_file: ${path.join(dir, 'checked')} lists no address: every recipient of the local domains would be refused`]);
    assert.deepEqual(await validateConfig({ access: { recipients_file: 'relay_recipients' } }).catch((e: ConfigError) => e.issues), [{ path: 'access.recipients_file', message: 'must be an absolute path' }]);
  });
});
