// ctx.rcptTargets end to end: a rcptTo plugin listed after an alias plugin sees where the recipient goes, one listed
// before it sees the client's address (and the log says the order is wrong), and the view cannot change the redirect.
// This file is also the observing plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import path from 'node:path';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { aliasSaw } from './fixtures/alias-table.ts';

const ALIAS_MODULE = path.join(import.meta.dirname, 'fixtures', 'alias-table.ts');

/** Per client recipient (lower case): what the observer saw at rcptTo, and what became of its attempt to edit it. */
const observed = new Map<string, { targets?: string[]; frozen: boolean; editThrew: boolean }>();
/** What the observer saw in the hooks of a transaction other than rcptTo. */
const elsewhere: Array<[string, unknown]> = [];

export default definePlugin({
  name: 'targets-observer',
  description: 'Test double: notes ctx.rcptTargets at every hook of a transaction and tries to edit it',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async mailFrom(ctx: HookContext) { elsewhere.push(['mailFrom', ctx.rcptTargets]); },
      async rcptTo(ctx: HookContext) {
        const view = ctx.rcptTargets;
        const threw = (edit: () => void) => { try { edit(); return false; } catch { return true; } };
        const editThrew = threw(() => (view as unknown as string[]).push('intruder@example.com'))
          && threw(() => { (view![0] as { address: string }).address = 'intruder@example.com'; });
        observed.set(ctx.rcpt!.address.toLowerCase(), {
          targets: ctx.rcptTargets?.map((a) => a.address), frozen: Object.isFrozen(view) && Object.isFrozen(view![0]), editThrew,
        });
      },
      async dataStart(ctx: HookContext) { elsewhere.push(['dataStart', ctx.rcptTargets]); },
    },
  }),
});

async function send(port: number, to: string[]): Promise<{ rcpt: SmtpReply[]; data?: SmtpReply }> {
  const c = await SmtpDialog.connect(port);
  try {
    await c.hello();
    assert.equal((await c.cmd('MAIL FROM:<someone@client.example>')).code, 250);
    const rcpt: SmtpReply[] = [];
    for (const t of to) rcpt.push(await c.cmd(`RCPT TO:<${t}>`));
    const data = rcpt.some((r) => r.code === 250) ? await c.data(testMessage({ to: to[0] })) : undefined;
    return { rcpt, data };
  } finally {
    await c.quit();
  }
}

const ALIASES = {
  'team@example.com': ['ann@example.com', 'bob@partner.example'],
  'gone@example.com': ['carl@example.com'],
};

describe('HookContext.rcptTargets', () => {
  let gw: RelayingGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; observed.clear(); aliasSaw.clear(); elsewhere.length = 0; });

  async function start(order: 'alias first' | 'observer first') {
    const alias = { name: 'alias-table', module: ALIAS_MODULE, aliases: ALIASES, refuse: ['gone@example.com'] };
    const observer = { name: 'targets-observer', module: import.meta.filename };
    gw = await startRelayingGateway({ config: { plugins: order === 'alias first' ? [alias, observer] : [observer, alias] } });
  }

  it('after an alias plugin: the targets it redirected to; without a redirect: the recipient itself', async () => {
    await start('alias first');
    const sent = await send(gw!.port, ['team@example.com', 'dan@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 250]);
    assert.equal(sent.data?.code, 250);
    assert.deepEqual(observed.get('team@example.com')?.targets, ['ann@example.com', 'bob@partner.example']);
    assert.deepEqual(observed.get('dan@example.com')?.targets, ['dan@example.com']);
    assert.deepEqual(aliasSaw.get('team@example.com'), { before: ['team@example.com'], after: ['ann@example.com', 'bob@partner.example'] },
      'the redirecting plugin sees the client\'s address first, then its own redirect');
    assert.deepEqual(elsewhere, [['mailFrom', undefined], ['dataStart', undefined]], 'only at rcptTo');
    assert.equal(gw!.logs.some((l) => String(l.msg).startsWith('plugin order')), false, 'in order: no warning');
  });

  it('is read-only: editing the view throws and changes nothing that is delivered', async () => {
    await start('alias first');
    await send(gw!.port, ['team@example.com']);
    assert.deepEqual(observed.get('team@example.com'), { targets: ['ann@example.com', 'bob@partner.example'], frozen: true, editThrew: true });
    const [m] = await gw!.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'bob@partner.example']);
  });

  it('a refused recipient\'s redirect does not reach the next RCPT\'s view', async () => {
    await start('alias first');
    const sent = await send(gw!.port, ['gone@example.com', 'eve@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [550, 250]);
    assert.deepEqual(observed.get('eve@example.com')?.targets, ['eve@example.com']);
  });

  it('before the alias plugin: the client\'s address, and one warning naming both plugins and the order to use', async () => {
    await start('observer first');
    await send(gw!.port, ['team@example.com', 'dan@example.com']);
    await send(gw!.port, ['team@example.com']);
    assert.deepEqual(observed.get('team@example.com')?.targets, ['team@example.com']);
    const warnings = gw!.logs.filter((l) => String(l.msg).startsWith('plugin order'));
    assert.equal(warnings.length, 1, 'said once, not per RCPT');
    assert.equal(warnings[0].level, 'warn');
    assert.deepEqual([warnings[0].reader, warnings[0].redirector], ['targets-observer', 'alias-table']);
    assert.match(String(warnings[0].detail), /list alias-table before targets-observer in plugins/);
  });
});
