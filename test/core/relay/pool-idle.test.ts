// An idle pooled connection to the next hop is closed with QUIT after 2 s, as Postfix's
// smtp_connection_cache_time_limit, not kept open until the server drops it; the next message opens a new one.
// A next hop on bare sockets that records each session's commands and when the client ended it (scripted-hop.ts).
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { IDLE_MS } from '../../../core/relay/smtp-pool.ts';
import { sendMail } from '../queue/send.ts';
import { startScriptedHop, type ScriptedHop } from './scripted-hop.ts';

describe('relay: idle pooled connections', function () {
  this.timeout(30_000);
  let gw: TestGateway | undefined;
  let hop: ScriptedHop | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; await hop?.stop(); hop = undefined; });

  it('are closed with QUIT after 2 s idle, and the next message opens a new one', async () => {
    hop = await startScriptedHop();
    const h = hop;
    assert.equal(IDLE_MS, 2_000);
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${h.port}` } });

    await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'] });
    await waitUntil('the first delivery', () => h.sessions[0]?.messages.length === 1);
    // With the 30 s of before, the connection was still open when this wait gave up.
    await waitUntil('the idle connection ended by the gateway', () => h.sessions[0].ended, 8_000);
    assert.equal(h.sessions[0].commands.at(-1), 'QUIT', `commands: ${h.sessions[0].commands.join(' ')}`);

    await sendMail(gw.port, { from: 'a@client.example', to: ['v@example.com'] });
    await waitUntil('the second delivery', () => h.delivered().length === 2);
    assert.equal(h.sessions.length, 2, 'a new connection for the second message');
    assert.deepEqual(h.sessions.map((x) => x.messages), [[['u@example.com']], [['v@example.com']]]);
  });
});
