// What the queue admin tests share: for each test, a recording smarthost and a fresh data_dir, and the gateway the test
// starts on them (`bed.gw`), all stopped and removed after it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';

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
