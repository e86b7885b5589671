// Reads what a gateway child process (spawnGateway) logged, for asserting on its JSON log lines.
import type { SpawnedGateway } from './gateway.ts';

/** The JSON log lines the child wrote so far; other output (a stack Node printed itself) is left out. */
export function logLines(gw: SpawnedGateway): Array<Record<string, unknown>> {
  return gw.output.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}
