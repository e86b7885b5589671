#!/usr/bin/env node
// The `moat` command: checks the Node version, then hands over to the TypeScript CLI (run by Node's type stripping).
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
