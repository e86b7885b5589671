// The first file a sandbox child runs, in JavaScript so that Node never loads its TypeScript stripper in the child
// (child-code.ts says why). Command line: child-loader.mjs <entry.ts> <args of the entry…>.
//
// The gateway writes the child's modules, already stripped, to its stdin as JSON ({ file URL: code }) and closes it.
// A .ts module not among them is refused rather than stripped here, so a gap shows at once instead of as memory
// quietly spent. Empty stdin (the gateway could not strip them) leaves Node to load the modules itself.
import { readFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';

const [entry] = process.argv.splice(2, 1);
// The entry sees the command line it would have had if Node had started it directly.
process.argv[1] = entry;

/** Serves the modules the gateway sent on stdin; undefined when it sent none. */
function serveStrippedModules() {
  const text = readFileSync(0, 'utf8');
  if (!text) return undefined;
  const modules = JSON.parse(text);
  return registerHooks({
    load(url, context, nextLoad) {
      if (Object.hasOwn(modules, url)) return { format: 'module', source: modules[url], shortCircuit: true };
      if (url.endsWith('.ts')) throw new Error(`${url} is not among the modules the gateway prepared for the sandbox child`);
      return nextLoad(url, context);
    },
  });
}

const hooks = serveStrippedModules();
await import(pathToFileURL(entry).href);
// Loaded: later imports (none of the child's own) go the usual way, and the sources can be collected.
hooks?.deregister();
