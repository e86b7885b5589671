// What libraries print with console.* reaches a gateway's log as records, so a log of JSON lines stays readable.
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnGateway } from '../../helpers/gateway.ts';

const HARAKA_FOLDER = path.resolve(import.meta.dirname, '..', '..', 'fixtures', 'haraka', 'commands');

describe('console output of libraries in the log', function () {
  this.timeout(60_000);

  it('moat start with log.format json writes only JSON lines, Haraka dependencies\' notices included', async () => {
    const gw = await spawnGateway({ config: { log: { format: 'json' }, plugins: [{ name: 'haraka', dir: HARAKA_FOLDER }] } });
    await gw.kill();
    const lines = gw.output.join('').split('\n').filter((l) => l.trim());
    const notJson = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    assert.deepEqual(notJson, []);
    const notices = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === 'console output');
    assert.ok(notices.some((r) => /loaded TLD files/.test(String(r.text))), 'the library notice is kept, as a record');
  });
});
