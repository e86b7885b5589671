// The quarantined gauge follows a retention sweep: once the sweep says it expired messages, a scrape counts the
// folder as the sweep left it, rather than the count of the gauges' last look (up to 5 s, and a sweep, before).
// A real gateway quarantining real messages; metrics read over its control socket as `moat metrics` reads them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway } from '../../helpers/gateway.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { queueBed } from './bed.ts';
import { sendMail } from './send.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/plugins/test-behaviour.ts');

describe('queue gauges and the retention sweep', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-qgauge-');

  it('counts the quarantine again as soon as a sweep has expired from it', async () => {
    // Swept every 2 s (a quarter of the lifetime); the folders are looked at every 5 s otherwise.
    const g = await startGateway({ dataDir: bed.dataDir, config: {
      smarthost: `smtp://127.0.0.1:${bed.sink.port}`, plugins: [{ name: 'test-behaviour', module: FIXTURE }],
      queue: { quarantine_lifetime: '8s' },
    } });
    bed.gw = g;
    const metrics = () => controlRequest(socketPath(bed.dataDir), { op: 'metrics' }) as Promise<Record<string, number>>;
    for (let i = 0; i < 3; i++) assert.equal((await sendMail(g.port, { from: 'x@client.example', to: [`u${i}@example.com`], subject: 'please-quarantine' })).code, 250);
    await waitFor('the three quarantined messages counted', async () => (await metrics()).queue_quarantined === 3 || undefined, 8_000);

    const expired = () => g.logs.filter((l) => l.msg === 'retention sweep' && l.folder === 'quarantine').reduce((n, l) => n + Number(l.expired), 0);
    await waitFor('the sweeps to expire all three', () => expired() === 3 || undefined, 20_000);
    // Read once, right after the sweep's line: no look of the gauges' own timer is waited for.
    assert.equal((await metrics()).queue_quarantined, 0);
  });
});
