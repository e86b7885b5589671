// A sandbox child as a script that got past vm2 would leave it, for tests of the walls around vm2 and of the gateway
// side of the pipe: the same Node flags, data segment limit, network and signal locks as sandbox-child.ts (the pool starts it
// the same way), but each script runs as the child's own code. It gets the message and `host`: the child's `process`,
// the call's id, `send` for frames of the protocol and `writeRaw` for any bytes on the pipe. A script that returns
// undefined has answered (or not) by itself.
import { writeSync } from 'node:fs';
import { CHANNEL_FD, openChannel } from '../../../plugins/scripts/child-channel.ts';
import { lockNetwork } from '../../../plugins/scripts/network-lock.ts';
import { lockSignals } from '../../../plugins/scripts/signal-lock.ts';
import type { FromChild, ToChild } from '../../../plugins/scripts/protocol.ts';

lockNetwork();
lockSignals();

type Escaped = (msg: unknown, host: { process: NodeJS.Process; id: number; send: (m: unknown) => void; writeRaw: (b: Buffer) => void }) => unknown;
let scripts: Escaped[] = [];
const send = openChannel(onMessage);

function onMessage(m: ToChild): void {
  if (m.type === 'init') {
    scripts = m.scripts.map((s) => {
      const module = { exports: undefined as unknown };
      new Function('module', s.source)(module);
      return module.exports as Escaped;
    });
    send({ type: 'ready' });
    return;
  }
  const { id } = m;
  const host = { process, id, send: (f: unknown) => send(f as FromChild), writeRaw: (b: Buffer) => { writeSync(CHANNEL_FD, b); } };
  void (async () => {
    try {
      const out = await scripts[m.script](JSON.parse(m.input), host);
      if (out !== undefined) send({ type: 'result', id, ok: true, output: JSON.stringify(out) });
    } catch (e) {
      send({ type: 'result', id, ok: false, error: String(e) });
    }
  })();
}
