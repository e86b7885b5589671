// The command-line scanner option, driven with the real clamscan and our own signature database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CommandScanner, commandLine } from '../../../plugins/clamav/command-scanner.ts';
import { ScanError } from '../../../plugins/clamav/scan-result.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { startClamd, EICAR, SIG_NAMES, type ClamdHandle } from '../../helpers/clamd.ts';
import { cleanMessage, eicarInZip } from './fixtures.ts';

const codes = { infected_exit_codes: [1], clean_exit_codes: [0], virus_pattern: ':\\s*(.+?)\\s+FOUND\\s*$' };

describe('clamav command-line scanner', function () {
  let clamd: ClamdHandle; // only for its signature folder
  let clamscan: CommandScanner;

  before(async () => {
    ensureCommands({ clamscan: 'clamav' });
    clamd = await startClamd();
    await clamd.stop();
    clamscan = new CommandScanner({ template: `clamscan --no-summary -d ${clamd.dbDir} {file}`, ...codes }, 10_000);
  });
  after(async () => { await clamd?.close(); });

  it('builds the command line from the template', () => {
    assert.deepEqual(commandLine('scan --in={file} "a b"', '/x/y'), ['scan', '--in=/x/y', 'a b']);
    assert.deepEqual(commandLine('scan -q', '/x/y'), ['scan', '-q', '/x/y']);
  });

  it('reports the virus named in the output of an infected file, and a clean file as clean', async () => {
    const infected = path.join(clamd.dir, 'zip.eml');
    fs.writeFileSync(infected, eicarInZip());
    assert.deepEqual(await clamscan.scanFile(infected), { infected: true, viruses: [SIG_NAMES.eicarHash] });
    assert.deepEqual(await clamscan.scanBuffer(Buffer.from(cleanMessage())), { infected: false });
    assert.deepEqual(await clamscan.scanBuffer(Buffer.from(EICAR)), { infected: true, viruses: [SIG_NAMES.eicarHash] });
  });

  it('names the exit code when the output has no virus name', async () => {
    const s = new CommandScanner({ ...codes, template: 'sh -c "exit 1"' }, 5000);
    assert.deepEqual(await s.scanBuffer(Buffer.from('x')), { infected: true, viruses: ['unknown (sh exit code 1)'] });
  });

  it('turns other exit codes, a missing program and a timeout into scan errors', async () => {
    const broken = new CommandScanner({ ...codes, template: `clamscan --no-summary -d ${clamd.dir}/missing {file}` }, 10_000);
    const e1 = await broken.scanBuffer(Buffer.from('x')).catch((e: ScanError) => e);
    assert.ok(e1 instanceof ScanError && e1.kind === 'error' && /exited with code 2/.test(e1.message), String(e1));
    const missing = new CommandScanner({ ...codes, template: 'no-such-scanner-here {file}' }, 1000);
    assert.equal((await missing.scanBuffer(Buffer.from('x')).catch((e: ScanError) => e) as ScanError).kind, 'unreachable');
    const slow = new CommandScanner({ ...codes, template: 'sh -c "sleep 5"' }, 200);
    const t0 = Date.now();
    assert.equal((await slow.scanBuffer(Buffer.from('x')).catch((e: ScanError) => e) as ScanError).kind, 'timeout');
    assert.ok(Date.now() - t0 < 2000);
  });
});
