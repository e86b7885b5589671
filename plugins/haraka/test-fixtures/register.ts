// Preload (`node --import`) that makes `require('haraka-test-fixtures')` load the shim's drop-in.
import { registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';

const target = pathToFileURL(new URL('./index.ts', import.meta.url).pathname).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'haraka-test-fixtures') return { url: target, shortCircuit: true };
    return nextResolve(specifier, context);
  },
});
