// `moat doctor` judges a data_dir that does not exist as the start does: the start creates it and every missing folder
// above it, so only the nearest folder that exists must be one the gateway's user may write in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { capture } from '../../helpers/console-capture.ts';

describe('moat doctor: a data_dir whose parent does not exist', function () {
  this.timeout(30_000);
  let dir: string;
  let removeDir: () => void;
  let dns: DnsTestServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-doctor-data-dir-'));
    removeDir = holdUntilExit({ dir });
    // The DNS check is asked of this server, so the run stays on loopback and its result is known.
    dns = await startDnsServer({ zones: { 'doctor.test': { '@': { MX: ['10 mx.doctor.test'] } } } });
  });
  after(async () => {
    await dns?.stop();
    removeDir?.();
  });

  /** Runs doctor on a config whose data_dir is `dataDir`; its exit code and its data_dir line. */
  async function doctorOn(name: string, dataDir: string): Promise<{ code: number; line: string | undefined; out: string }> {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, `data_dir: ${dataDir}\ndomains: [doctor.test]\ndns:\n  servers: ['${dns.address}']\n  timeout: 300ms\n  tries: 1\n`);
    const { code, out } = await capture(() => doctorCli(['--config', file]));
    return { code, line: out.split('\n').find((l) => /^\S+ +data_dir: /.test(l)), out };
  }

  it('says ok when the nearest existing folder is writable, and the start then creates the whole path', async () => {
    const top = path.join(dir, 'x-nx');
    const dataDir = path.join(top, 'deeper', 'data');
    const { code, line, out } = await doctorOn('nested', dataDir);
    assert.equal(code, 0, out);
    assert.equal(line, `ok   data_dir: ${dataDir} does not exist yet; the gateway creates it, from ${top} down`);
    // A check only looks: the folders are still missing after it.
    assert.equal(fs.existsSync(top), false);

    const gw = await startGateway({ dataDir });
    try {
      assert.ok(fs.statSync(dataDir).isDirectory());
    } finally {
      await gw.stop();
    }
  });

  it('fails when the nearest existing path is a file, where the start cannot create a folder either', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'not a folder');
    const dataDir = path.join(file, 'x-nx', 'data');
    const { code, line, out } = await doctorOn('under-file', dataDir);
    assert.equal(code, 1, out);
    assert.equal(line, `FAIL data_dir: ${dataDir} does not exist and ${file} is not a folder: the gateway cannot start`);
    await assert.rejects(startGateway({ dataDir }), /ENOTDIR/);
  });
});
