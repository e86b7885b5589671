// The gateway's Node flags are set in three places: npm's start script, the README's systemd unit, and (read from the
// first) the benchmarks' gateways. They must not drift apart, or a benchmark measures another gateway than runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { productionNodeArgs } from '../../scripts/bench/lib/gateway-node-args.ts';

const PROJECT = path.resolve(import.meta.dirname, '..', '..');

describe('the gateway\'s Node flags', () => {
  it('npm start caps the young generation, and the README\'s systemd unit starts the gateway with the same flags', () => {
    const flags = productionNodeArgs();
    assert.ok(flags.includes('--max-semi-space-size=8'), `npm start's flags: ${flags.join(' ')}`);
    const readme = readFileSync(path.join(PROJECT, 'README.md'), 'utf8');
    const unit = /^ExecStart=\S+\/node((?: --\S+)*) \S+\/scripts\/moat\.js start /m.exec(readme);
    assert.ok(unit, 'an ExecStart line that runs scripts/moat.js start');
    assert.deepEqual(unit[1].trim().split(' '), flags);
    // Where no flag can go (npx moat start), the README says to set NODE_OPTIONS, which Node accepts the flag from.
    assert.ok(readme.includes(`NODE_OPTIONS=${flags.join(' ')}`));
  });
});
