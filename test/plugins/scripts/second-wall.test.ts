// The sandbox child's own walls, for code that got past vm2: run with the child's flags and network lock, nothing of
// the file system beyond its code, no processes or workers, and no socket of any kind may be opened.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sandboxExecArgv } from '../../../plugins/scripts/pool.ts';

const LOCK = pathToFileURL(path.resolve(import.meta.dirname, '../../../plugins/scripts/network-lock.ts')).href;

/** Runs `body` as an escaped script would: in a process with the sandbox child's flags, after the network lock. */
function runEscaped(body: string): Promise<Record<string, string>> {
  const code = `
    const { lockNetwork } = await import(${JSON.stringify(LOCK)});
    lockNetwork();
    const out = {};
    const probe = async (name, f) => { try { await f(); out[name] = 'ALLOWED'; } catch (e) { out[name] = e.code ?? e.name; } };
    ${body}
    await new Promise((r) => setTimeout(r, 300));
    process.stdout.write(JSON.stringify(out));`;
  const child = spawn(process.execPath, [...sandboxExecArgv(64), '--input-type=module', '-e', code], { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => child.on('exit', () => {
    try { resolve(JSON.parse(stdout)); } catch { reject(new Error(`no result: ${stdout}\n${stderr}`)); }
  }));
}

describe('plugins/scripts sandbox child walls', function () {
  this.timeout(20_000);

  it('denies file reads beyond its code, file writes, child processes, workers, addons and native bindings', async () => {
    const out = await runEscaped(`
      const fs = process.getBuiltinModule('fs');
      await probe('read', () => fs.readFileSync('/etc/passwd'));
      await probe('write', () => fs.writeFileSync('/tmp/mailmoat-sandbox-probe', 'x'));
      await probe('spawn', () => process.getBuiltinModule('child_process').execFileSync('/bin/true'));
      await probe('worker', () => new (process.getBuiltinModule('worker_threads').Worker)('1', { eval: true }));
      await probe('binding', () => process.binding('tcp_wrap'));
      await probe('dlopen', () => process.dlopen({ exports: {} }, '/nonexistent.node'));`);
    assert.deepEqual(out, { read: 'ERR_ACCESS_DENIED', write: 'ERR_ACCESS_DENIED', spawn: 'ERR_ACCESS_DENIED', worker: 'ERR_ACCESS_DENIED', binding: 'ERR_ACCESS_DENIED', dlopen: 'ERR_DLOPEN_DISABLED' });
  });

  it('opens no socket to a loopback listener: TCP, TLS, HTTP, HTTP/2, fetch, UDP, DNS, or a listening one', async () => {
    let connections = 0;
    let datagrams = 0;
    const server = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const udp = dgram.createSocket('udp4');
    udp.on('message', () => { datagrams++; });
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const udpPort = udp.address().port;
    try {
      const out = await runEscaped(`
        const net = process.getBuiltinModule('net');
        await probe('net.connect', () => net.connect(${port}, '127.0.0.1'));
        await probe('socket.connect', () => new net.Socket().connect(${port}, '127.0.0.1'));
        await probe('import', async () => (await import('node:net')).createConnection(${port}, '127.0.0.1'));
        await probe('tls', () => process.getBuiltinModule('tls').connect(${port}, '127.0.0.1'));
        await probe('http', () => process.getBuiltinModule('http').get('http://127.0.0.1:${port}/'));
        await probe('http2', () => process.getBuiltinModule('http2').connect('http://127.0.0.1:${port}'));
        await probe('fetch', () => fetch('http://127.0.0.1:${port}/'));
        const dgram = process.getBuiltinModule('dgram');
        await probe('udp', () => dgram.createSocket('udp4').send('x', ${udpPort}, '127.0.0.1'));
        await probe('dns', () => process.getBuiltinModule('dns').promises.resolve4('example.com'));
        await probe('resolver', () => new (process.getBuiltinModule('dns').Resolver)().resolve4('example.com', () => {}));
        await probe('listen', () => net.createServer().listen(0, '127.0.0.1'));`);
      for (const [name, result] of Object.entries(out)) assert.notEqual(result, 'ALLOWED', `${name} was allowed`);
      assert.equal(Object.keys(out).length, 11);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(connections, 0, 'the listener saw a connection');
      assert.equal(datagrams, 0, 'the UDP listener got a datagram');
    } finally {
      server.close();
      udp.close();
    }
  });
});
