// What the dmarc end-to-end tests share: a DKIM key made for the describe, a gateway with the spf and dmarc plugins
// over a loopback DNS server whose zones publish that key, started before the describe's tests and stopped after,
// and the transaction most of them make. Call it in a describe: it adds that describe's before/after hooks.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import type { Behaviour, Zones } from '../../helpers/dns-server.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { makeKey, type TestKey } from './mail-fixtures.ts';
import { openSession, startAuthGateway, type AuthGateway } from '../spf/e2e-setup.ts';

export interface DmarcBed {
  /** The key the zones publish (`key.dnsRecord`) and the tests sign with. */
  readonly key: TestKey;
  readonly gw: AuthGateway;
  /**
   * One transaction from the client `ip` greeting as `helo` (198.51.100.9, client.example.net unless given): MAIL FROM
   * `mailFrom` and RCPT TO bob@receiver.test, both accepted, then `raw`; the reply to it.
   */
  send(mailFrom: string, raw: Buffer, client?: { ip: string; helo: string }): Promise<SmtpReply>;
}

export interface DmarcBedOptions {
  /** Config keys beside the plugins (`relay`, say). */
  extra?: Record<string, unknown>;
  /** Names the DNS server mistreats (`{ drop: true }`, `{ rcode: 'SERVFAIL' }`), set once it runs. */
  behaviours?: Record<string, Behaviour>;
}

export function useDmarcBed(zones: (key: TestKey) => Zones, plugins: Array<Record<string, unknown>>, o: DmarcBedOptions = {}): DmarcBed {
  const key = makeKey();
  let gw: AuthGateway;
  before(async () => {
    gw = await startAuthGateway(zones(key), plugins, o.extra);
    for (const [name, behaviour] of Object.entries(o.behaviours ?? {})) await gw.dns.setBehaviour(name, behaviour);
  });
  after(async () => { await gw?.stop(); });
  return {
    key,
    get gw() { return gw; },
    async send(mailFrom, raw, client = { ip: '198.51.100.9', helo: 'client.example.net' }) {
      const c = await openSession(gw.gw.port, client.ip, client.helo);
      try {
        assert.equal((await c.cmd(`MAIL FROM:<${mailFrom}>`)).code, 250);
        assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
        return await c.data(raw);
      } finally {
        await c.quit();
      }
    },
  };
}

/** The newest `message` log line of a delivery whose envelope sender is `from`. */
export function messageLine(logs: LogFields[], from: string): LogFields {
  const line = logs.filter((l) => l.msg === 'message' && l.from === from).at(-1);
  assert.ok(line, `a message log line for ${from}`);
  return line;
}
