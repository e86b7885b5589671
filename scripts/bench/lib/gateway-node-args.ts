// The Node flags a gateway runs with in production, read from package.json's start script (the README's systemd unit
// repeats them): a benchmark's gateway gets the same, so that it measures what runs. A flag given after them wins, so
// `--max-semi-space-size=0` brings back V8's own young generation (2 × 64 MB on a large host).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const PACKAGE = path.resolve(import.meta.dirname, '..', '..', '..', 'package.json');

/** The words between `node` and `scripts/moat.js` in `npm start`'s command. */
export function productionNodeArgs(): string[] {
  const start: string = JSON.parse(readFileSync(PACKAGE, 'utf8')).scripts.start;
  const words = start.trim().split(/\s+/);
  const script = words.indexOf('scripts/moat.js');
  if (words[0] !== 'node' || script < 0) throw new Error(`package.json's start script is not "node [FLAGS] scripts/moat.js start": ${start}`);
  return words.slice(1, script);
}
