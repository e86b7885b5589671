// Run by `npm test` before mocha: installs, in one apt-get call, every Debian package a test file may need. Test files
// run in parallel workers, and a worker whose `before` hook waited its turn behind another's long install (clamav)
// could pass its own time limit; with everything installed first, the on-demand installs in the helpers find nothing
// to do.
import { ensureCommands } from './system-packages.ts';

ensureCommands({
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
});
