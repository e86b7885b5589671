#!/usr/bin/env node
// The `moat` command: checks the Node version, then hands over to the TypeScript CLI (run by Node's type stripping).

// First of all: SIGUSR1 would have Node open its inspector on 127.0.0.1:9229, through which any local user can run code
// as this process's user, and SIGUSR2 ends the gateway outright; logrotate postrotate scripts send either out of habit.
// A listener takes the place of both actions (Node's inspector then stays closed: test/core/lifecycle/ignored-signals),
// for the whole life of the process, since the last one removed would give SIGUSR1 back its default action, which
// ends the process. `moat start` logs each one it ignores (core/gateway.ts). Not `node --disable-sigusr1`, in the
// shebang or npm's start script: it keeps SIGUSR1 blocked, so the log could not say what to do instead, and the
// shebang's `env -S` is missing from BusyBox.
const ignoreSignal = () => {};
process.on('SIGUSR1', ignoreSignal);
if (process.argv[2] === 'start') process.on('SIGUSR2', ignoreSignal);

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`moat needs Node.js 24 or newer (this is ${process.version}). Run it through npm (npx moat, npm start), which uses the Node 24 installed in node_modules, or install Node 24.\n`);
  process.exit(1);
}
// Every accepted message costs file and directory fsyncs on libuv's thread pool; its default of 4 threads would cap throughput.
process.env.UV_THREADPOOL_SIZE ??= '32';
const { main, quietWhenOutputCloses } = await import('./cli/main.ts');
const output = quietWhenOutputCloses(process.argv[2]);
process.exitCode = await main(process.argv.slice(2));
output.finished();
