// A minimal, fast SMTP sink (the benchmark's ceiling and every relay's target): accepts everything, counts messages.
// Run as a child process: prints `port=N` and answers "count" on stdin with the number of messages received.
import net from 'node:net';
import { createInterface } from 'node:readline';

let messages = 0;
let bytes = 0;
let lastAt = 0;

const END = Buffer.from('\r\n.\r\n');

const server = net.createServer((sock) => {
  let inData = false;
  // Command bytes not yet ending in CRLF, and the last bytes of DATA (the end marker may straddle two reads).
  let pending = '';
  let tail = Buffer.alloc(0);
  sock.write('220 sink ESMTP\r\n');
  const commands = (text: string) => {
    pending += text;
    let out = '';
    for (let i = pending.indexOf('\r\n'); i >= 0 && !inData; i = pending.indexOf('\r\n')) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 2);
      const cmd = line.slice(0, 4).toUpperCase();
      if (cmd === 'EHLO') out += '250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 209715200\r\n';
      else if (cmd === 'HELO' || cmd === 'MAIL' || cmd === 'RCPT' || cmd === 'RSET' || cmd === 'NOOP') out += '250 2.0.0 ok\r\n';
      else if (cmd === 'DATA') { out += '354 go\r\n'; inData = true; tail = Buffer.from('\r\n'); }
      else if (cmd === 'QUIT') { out += '221 bye\r\n'; sock.end(out); return; }
      else out += '502 5.5.2 not here\r\n';
    }
    if (out) sock.write(out);
    // Bytes pipelined after DATA belong to the message.
    if (inData && pending) { const rest = pending; pending = ''; data(Buffer.from(rest, 'latin1')); }
  };
  const data = (buf: Buffer) => {
    bytes += buf.length;
    const joined = Buffer.concat([tail, buf]);
    const at = joined.indexOf(END);
    if (at < 0) { tail = joined.subarray(Math.max(0, joined.length - 4)); return; }
    inData = false; messages++; lastAt = Date.now(); tail = Buffer.alloc(0);
    sock.write('250 2.0.0 ok\r\n');
    const rest = joined.subarray(at + END.length);
    if (rest.length) commands(rest.toString('latin1'));
  };
  sock.on('data', (buf: Buffer) => { if (inData) data(buf); else commands(buf.toString('latin1')); });
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
