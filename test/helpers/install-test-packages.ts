// Run by `npm test` before mocha: installs, in one apt-get call, every Debian package a test file may need. Test files
// run in parallel workers, and a worker whose `before` hook waited its turn behind another's long install (clamav)
// could pass its own time limit; with everything installed first, the on-demand installs in the helpers find nothing
// to do.
import { ensureCommands } from './system-packages.ts';

const needs: Record<string, string> = {
  'redis-server': 'redis-server',
  clamd: 'clamav-daemon',
  clamscan: 'clamav',
  swaks: 'swaks',
  'fail2ban-regex': 'fail2ban',
  zip: 'zip',
  bogofilter: 'bogofilter',
  crm: 'crm114',
  haproxy: 'haproxy',
  promtool: 'prometheus',
  '7zz': '7zip',
  'unrar-free': 'unrar-free',
};

try {
  ensureCommands(needs);
} catch (err) {
  // One package apt cannot install fails the whole call; the suite still runs, and each test that needs a missing
  // command installs it itself and fails with the reason if it cannot (no test is skipped for it).
  console.error(`installing the tests' Debian packages in one call failed (${(err as Error).message}); each test installs what it needs`);
}
