// A minimal, fast SMTP sink (the benchmark's ceiling and every relay's target): accepts everything, counts messages.
// Run as a child process: prints `port=N` and answers "count" on stdin with the number of messages received.
import net from 'node:net';
import { createInterface } from 'node:readline';

let messages = 0;
let bytes = 0;
let lastAt = 0;

const server = net.createServer((sock) => {
  let inData = false;
  let tail = '';
  sock.write('220 sink ESMTP\r\n');
  sock.on('data', (buf: Buffer) => {
    if (inData) {
      bytes += buf.length;
      const s = tail + buf.toString('latin1', Math.max(0, buf.length - 5));
      const text = buf.length < 16 ? tail + buf.toString('latin1') : s;
      if (text.includes('\r\n.\r\n')) {
        // Only a terminator at the very end is supported: clients wait for 250 before the next command.
        inData = false; messages++; lastAt = Date.now(); tail = '';
        sock.write('250 2.0.0 ok\r\n');
      } else tail = text.slice(-4);
      return;
    }
    const lines = buf.toString('latin1').split('\r\n').filter(Boolean);
    let out = '';
    for (const line of lines) {
      const cmd = line.slice(0, 4).toUpperCase();
      if (cmd === 'EHLO') out += '250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 209715200\r\n';
      else if (cmd === 'HELO' || cmd === 'MAIL' || cmd === 'RCPT' || cmd === 'RSET' || cmd === 'NOOP') out += '250 2.0.0 ok\r\n';
      else if (cmd === 'DATA') { out += '354 go\r\n'; inData = true; }
      else if (cmd === 'QUIT') { out += '221 bye\r\n'; sock.end(out); return; }
      else out += '502 5.5.2 not here\r\n';
    }
    if (out) sock.write(out);
  });
  sock.on('error', () => undefined);
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`port=${(server.address() as net.AddressInfo).port}\n`);
});
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'count') process.stdout.write(`count=${messages} bytes=${bytes} last=${lastAt}\n`);
  if (l === 'reset') { messages = 0; bytes = 0; lastAt = 0; }
});
process.stdin.on('end', () => process.exit(0));
