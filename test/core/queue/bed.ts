// What the queue tests share: for each test, a recording smarthost and a fresh data_dir, and the gateway the test
// starts on them (`bed.gw`), all stopped and removed after it (queueBed); or a raw next hop and a gateway relaying to
// it, started by the test with its own queue settings (rawHopBed).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { startRawSmarthost, type RawSmarthost } from './raw-smarthost.ts';

export interface QueueBed { sink: Smarthost; dataDir: string; gw?: TestGateway }

/** Registers the hooks in the enclosing describe; `prefix` names the temporary data_dir. */
export function queueBed(prefix: string): QueueBed {
  const bed = {} as QueueBed;
  beforeEach(async () => {
    bed.sink = await startSmarthost();
    bed.dataDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterEach(async () => {
    await bed.gw?.stop();
    bed.gw = undefined;
    await bed.sink.stop();
    rmSync(bed.dataDir, { recursive: true, force: true });
  });
  return bed;
}

export interface RawHopBed {
  /** The next hop of the test under way, once it called start(). */
  next?: RawSmarthost;
  gw?: TestGateway;
  /** Starts a raw next hop and a gateway relaying to it, with `queue` as the gateway's queue settings. */
  start(queue: Record<string, unknown>): Promise<TestGateway>;
}

/** Registers the hook in the enclosing describe that stops, after each test, what its start() started. */
export function rawHopBed(): RawHopBed {
  const bed: RawHopBed = {
    async start(queue) {
      bed.next = await startRawSmarthost();
      bed.gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${bed.next.port}`, queue } });
      return bed.gw;
    },
  };
  afterEach(async () => {
    await bed.gw?.stop();
    await bed.next?.stop();
    bed.gw = undefined;
    bed.next = undefined;
  });
  return bed;
}
