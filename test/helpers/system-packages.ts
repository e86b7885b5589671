// Installs the Debian packages a test needs (as root), once per run, so a fresh machine can run the whole suite.
import { execFileSync, spawnSync } from 'node:child_process';

const checked = new Set<string>();
const APT_LOCK = '/tmp/mailmoat-tests-apt.lock';
let updated = false;

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure each command exists, installing its Debian package when it does not.
 * @param needs map of command name → Debian package, e.g. `{ 'redis-server': 'redis-server' }`
 */
export function ensureCommands(needs: Record<string, string>): void {
  const missing = Object.entries(needs).filter(([cmd]) => !checked.has(cmd) && !hasCommand(cmd)).map(([, pkg]) => pkg);
  if (missing.length) {
    if (process.getuid?.() !== 0) throw new Error(`tests need Debian packages ${missing.join(', ')}; install them or run as root`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    // Keep package maintainer scripts from starting system-wide daemons on their default ports.
    execFileSync('sh', ['-c', "test -e /usr/sbin/policy-rc.d || { printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; }"]);
    // Test files run in parallel workers (.mocharc.json): apt refuses to run beside another apt rather than wait, so
    // each worker's installs take turns under one lock, and one that waited finds the package already there.
    const apt = (args: string[], timeout: number) => execFileSync('flock', [APT_LOCK, 'apt-get', ...args], { env, stdio: 'ignore', timeout });
    if (!updated) { apt(['update', '-q'], 300_000); updated = true; }
    apt(['install', '-y', '-q', '--no-install-recommends', ...new Set(missing)], 600_000);
  }
  for (const cmd of Object.keys(needs)) {
    if (!hasCommand(cmd)) throw new Error(`command ${cmd} is still missing after installing its package`);
    checked.add(cmd);
  }
}
