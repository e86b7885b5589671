// End to end, as a Postfix admin migrating a front MX tried it with swaks: the access lists match an address by its
// mailbox (case, quotes, a trailing dot, a +tag), helo_deny spares the clients the admin vouches for, and
// helo_required_fqdn, require_fqdn_addresses and blocked_senders answer as Postfix's restrictions do. This file is
// also the plugin that redirects and copies to blocked addresses: the gateway imports it by its own URL.
import assert from 'node:assert/strict';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

export default definePlugin({
  name: 'access-fixture',
  description: 'Test double: redirects alias@ to a tagged blocked address and a good one, copies to X-Copy-To',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async rcptTo(ctx: HookContext) {
        if (ctx.rcpt!.local === 'alias') ctx.redirectRecipient(['Spammer-Target+promo@Example.org', 'kept@example.com'], 'alias');
        if (ctx.rcpt!.local === 'alias-blocked') ctx.redirectRecipient(['SPAMMER-TARGET@example.org'], 'alias');
      },
      async data(ctx: HookContext) {
        const to = ctx.message!.headers.first('X-Copy-To');
        if (to) ctx.addRecipient(to.trim(), 'archive rule');
        ctx.removeHeader('X-Copy-To');
      },
    },
  }),
});

const RELAY_NET = '192.0.2.10';
const ALLOWED = '192.0.2.20';
const STRANGER = '198.51.100.5';

/** A session of the client at `ip` (named by XCLIENT, the test gateway trusting loopback as its proxy) after `helo`. */
async function clientAt(port: number, ip: string, helo: string, login?: string): Promise<{ c: SmtpDialog; ehlo: SmtpReply }> {
  const c = await SmtpDialog.connect(port);
  assert.equal((await c.read()).code, 220);
  assert.equal((await c.cmd('EHLO proxy.test')).code, 250);
  const x = await c.cmd(`XCLIENT ADDR=${ip} NAME=[UNAVAILABLE]${login ? ` LOGIN=${login}` : ''}`);
  assert.equal(x.code, 220, x.text);
  return { c, ehlo: await c.cmd(`EHLO ${helo}`) };
}

const reply = (r: SmtpReply) => `${r.code} ${r.text}`;

describe('access policy with Postfix parity', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      domains: ['example.com', 'example.org', 'intranet'],
      relay: { networks: [`${RELAY_NET}/32`] },
      access: {
        allow_ips: [`${ALLOWED}/32`],
        helo_deny: ['^bad\\.'],
        blocked_recipients: ['spammer-target@example.org', '@blocked.example.org'],
        blocked_senders: ['spammer@bad.example', '@spam.example'],
        helo_required_fqdn: true,
        require_fqdn_addresses: true,
      },
      plugins: [{ name: 'access-fixture', module: import.meta.filename }],
    } });
  });
  after(() => gw.stop());
  beforeEach(() => { gw.sink.messages.length = 0; });

  describe('access.blocked_recipients', () => {
    it('refuses every spelling of a blocked mailbox at RCPT, and lets a different mailbox through', async () => {
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
      for (const to of ['SPAMMER-TARGET@example.org', 'spammer-target+x@example.org', '"spammer-target"@example.org', 'Spammer-Target+a+b@EXAMPLE.ORG', 'spammer-target@example.org.', 'anyone@blocked.example.org']) {
        // smtp-server drops a trailing dot itself: the reply names the address without it.
        assert.equal(reply(await c.cmd(`RCPT TO:<${to}>`)), `550 5.7.1 <${to.replace(/\.$/, '')}>: Recipient address rejected: Access denied`, to);
      }
      for (const to of ['spammer-targets@example.org', 'spammer@example.org']) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250, to);
      await c.quit();
      const line = gw.logs.find((l) => l.msg === 'recipient refused' && (l.to as string[])[0] === 'spammer-target+x@example.org');
      assert.equal(line?.reason, 'access.blocked_recipients');
    });

    it('drops a tagged, differently cased redirect target and a plugin\'s copy to the blocked mailbox', async () => {
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      await c.cmd('MAIL FROM:<a@client.example>');
      assert.equal((await c.cmd('RCPT TO:<alias@example.com>')).code, 250);
      assert.equal(reply(await c.cmd('RCPT TO:<alias-blocked@example.com>')), '550 5.7.1 <alias-blocked@example.com>: Recipient address rejected: Access denied');
      const r = await c.data(testMessage({ headers: { 'X-Copy-To': 'Spammer-Target+copy@Example.org' } }));
      assert.equal(r.code, 250, r.text);
      await c.quit();
      const [m] = await gw.sink.waitFor(1);
      assert.deepEqual(m.rcptTo, ['kept@example.com']);
      assert.ok(gw.logs.some((l) => l.msg === 'redirect target refused by access.blocked_recipients' && (l.targets as string[])[0] === 'Spammer-Target+promo@Example.org'));
      await waitFor('the refused copy\'s warning', () => gw.logs.find((l) => l.msg === 'addRecipient refused by access.blocked_recipients'));
    });

    it('cuts no tag with recipient_delimiter \'\', and cuts at each of several delimiters', async () => {
      const running = gw.gateway.runtime.config;
      const withDelimiter = async (d: string) => assert.equal(await gw.gateway.reload(await validateConfig({ ...running, access: { ...running.access, recipient_delimiter: d } })), true);
      const rcpts = async (...to: string[]) => {
        const c = await SmtpDialog.connect(gw.port);
        await c.hello();
        await c.cmd('MAIL FROM:<a@client.example>');
        const codes = [];
        for (const t of to) codes.push((await c.cmd(`RCPT TO:<${t}>`)).code);
        await c.quit();
        return codes;
      };
      try {
        await withDelimiter('');
        assert.deepEqual(await rcpts('spammer-target+x@example.org', 'Spammer-Target@example.org'), [250, 550]);
        await withDelimiter('=+');
        assert.deepEqual(await rcpts('spammer-target=x@example.org', 'spammer-target+x@example.org', 'spammer-target-x@example.org'), [550, 550, 250]);
      } finally { await withDelimiter('+'); }
    });
  });

  describe('access.helo_deny', () => {
    it('refuses and closes a client that is not exempt, logging its address', async () => {
      const { c, ehlo } = await clientAt(gw.port, STRANGER, 'bad.example');
      assert.equal(reply(ehlo), '554 5.7.1 Your HELO name is not allowed here');
      await waitFor('the connection to close', () => c.closed || undefined);
      const line = gw.logs.find((l) => l.msg === 'HELO refused by access.helo_deny');
      assert.deepEqual([line?.client, line?.helo], [STRANGER, 'bad.example']);
    });

    it('spares relay.networks, access.allow_ips and logged-in clients', async () => {
      for (const [ip, login] of [[RELAY_NET], [ALLOWED], [STRANGER, 'alice']]) {
        const { c, ehlo } = await clientAt(gw.port, ip, 'bad.example', login);
        assert.equal(ehlo.code, 250, `${ip} ${login ?? ''}: ${ehlo.text}`);
        assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
        assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
        await c.quit();
      }
    });
  });

  describe('access.helo_required_fqdn', () => {
    it('refuses at RCPT a name without a dot (504) or an invalid one (501), and takes a proper HELO after them', async () => {
      const { c, ehlo } = await clientAt(gw.port, STRANGER, 'Laptop');
      assert.equal(ehlo.code, 250, 'the HELO itself is answered 250: the refusal waits for RCPT, as Postfix\'s smtpd_delay_reject');
      assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal(reply(await c.cmd('RCPT TO:<user@example.com>')), '504 5.5.2 <Laptop>: Helo command rejected: need fully-qualified hostname');
      for (const [name, want] of [['192.0.2.7', 504], ['bad_name!.example', 501], ['-x.example', 501], ['[192.0.2.300]', 501], ['[192.0.2.7]', 250], ['[IPv6:2001:db8::7]', 250], ['mail.client.example.', 250]] as const) {
        assert.equal((await c.cmd('RSET')).code, 250);
        assert.equal((await c.cmd(`EHLO ${name}`)).code, 250, name);
        assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250, name);
        const r = await c.cmd('RCPT TO:<user@example.com>');
        assert.equal(r.code, want, `${name}: ${r.text}`);
        if (want === 501) assert.equal(r.text, `5.5.2 <${name}>: Helo command rejected: Invalid name`);
      }
      const r = await c.data(testMessage());
      assert.equal(r.code, 250, 'a proper name mended the session');
      await c.quit();
      const line = gw.logs.find((l) => l.msg === 'recipient refused' && l.reason === 'access.helo_required_fqdn');
      assert.deepEqual([line?.client, line?.helo, line?.from, line?.to], [STRANGER, 'laptop', 'a@client.example', ['user@example.com']]);
    });

    it('spares relay.networks, access.allow_ips and logged-in clients', async () => {
      for (const [ip, login] of [[RELAY_NET], [ALLOWED], [STRANGER, 'alice']]) {
        const { c } = await clientAt(gw.port, ip, 'laptop', login);
        assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
        assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250, `${ip} ${login ?? ''}`);
        await c.quit();
      }
    });
  });

  describe('access.require_fqdn_addresses', () => {
    it('refuses a sender or recipient without a dotted domain with 504, but not <>, a local dotless domain or a literal', async () => {
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      assert.equal(reply(await c.cmd('MAIL FROM:<nofqdn@bar>')), '504 5.5.2 <nofqdn@bar>: Sender address rejected: need fully-qualified address');
      assert.equal(reply(await c.cmd('MAIL FROM:<nofqdn@bar.>')), '504 5.5.2 <nofqdn@bar>: Sender address rejected: need fully-qualified address', 'a trailing dot qualifies nothing');
      assert.equal((await c.cmd('MAIL FROM:<ops@intranet>')).code, 250, 'a local domain without a dot');
      assert.equal(reply(await c.cmd('RCPT TO:<user@bar>')), '504 5.5.2 <user@bar>: Recipient address rejected: need fully-qualified address');
      assert.equal((await c.cmd('RCPT TO:<user@intranet>')).code, 250);
      assert.equal((await c.cmd('RSET')).code, 250);
      for (const from of ['', 'a@[192.0.2.7]', 'a@client.example.']) {
        assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250, from);
        assert.equal((await c.cmd('RSET')).code, 250);
      }
      await c.quit();
    });
  });

  describe('access.blocked_senders', () => {
    it('refuses a blocked sender in any spelling, or any of a blocked domain, at MAIL FROM, whoever the client', async () => {
      const { c } = await clientAt(gw.port, ALLOWED, 'client.test');
      for (const from of ['spammer@bad.example', 'Spammer+news@Bad.Example', '"spammer"@bad.example', 'anyone@spam.example']) {
        assert.equal(reply(await c.cmd(`MAIL FROM:<${from}>`)), `550 5.7.1 <${from}>: Sender address rejected: Access denied`, from);
      }
      assert.equal((await c.cmd('MAIL FROM:<other@bad.example>')).code, 250);
      await c.quit();
      const line = gw.logs.find((l) => l.msg === 'sender refused' && l.from === 'anyone@spam.example');
      assert.deepEqual([line?.client, line?.reason, line?.reply], [ALLOWED, 'access.blocked_senders', '550 5.7.1 <anyone@spam.example>: Sender address rejected: Access denied']);
    });
  });
});
