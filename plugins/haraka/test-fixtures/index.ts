// A drop-in for `haraka-test-fixtures` built on the shim's own classes, so a Haraka plugin's test suite tests the shim.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HARAKA_DIR, constants, haraka, type Any } from '../cjs.ts';
import { Connection } from '../connection.ts';
import { compileInto, type LoadedFolder } from '../loader.ts';
import { addLogMethods, LEVELS, SINK } from '../log.ts';
import { Plugin as ShimPlugin } from '../plugin.ts';
import { HookRegistry } from '../registry.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };
const sink = { logger: quiet, level: LEVELS.EMERG };

/** The test's plugin repository: the working directory, as haraka-test-fixtures assumes. */
function fixtureFolder(root = process.cwd()): LoadedFolder {
  const { config } = haraka();
  const folder: LoadedFolder = {
    dir: root, registry: new HookRegistry(), sink, config: config.module_config(root), pluginList: [],
    timeoutFor: () => 30,
    compile: (name: string) => new plugin(name) as Any,
  };
  return folder;
}

function findPlugin(name: string, root: string): { file: string; pkg: boolean } {
  const short = name.replace(/^haraka-plugin-/, '');
  const pkgFile = path.join(root, 'package.json');
  if (existsSync(pkgFile)) {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (pkg.name === name || pkg.name === `haraka-plugin-${short}`) return { file: pkgFile, pkg: true };
  }
  const candidates: Array<[string, boolean]> = [
    [path.join(root, 'node_modules', name, 'package.json'), true],
    [path.join(root, 'node_modules', `haraka-plugin-${short}`, 'package.json'), true],
    [path.join(root, 'plugins', `${short}.js`), false],
    [path.join(HARAKA_DIR, 'plugins', `${short}.js`), false],
  ];
  for (const [file, pkg] of candidates) if (existsSync(file)) return { file, pkg };
  throw new Error(`fixtures: no plugin named ${name} under ${root}`);
}

/**
 * `new fixtures.plugin(name)`: a compiled, unregistered plugin. The name is kept as given (older suites read
 * `results.get('haraka-plugin-x')`); `register()` is left to the test, as in haraka-test-fixtures.
 */
export class plugin extends ShimPlugin {
  constructor(name: string) {
    const folder = fixtureFolder();
    const { file, pkg } = findPlugin(name, folder.dir);
    super(name, file, pkg, folder);
    this.config = haraka().config.module_config(pkg ? path.dirname(file) : folder.dir, folder.dir);
    compileInto(this, { console });
  }
}

export const connection = {
  createConnection(client: Any = {}, server: Any = {}): Any {
    const conn = new Connection(fixtureFolder(), sink, {
      remote: { ip: client.remoteAddress ?? '127.0.0.1', port: client.remotePort ?? 2525 },
      local: { ip: '127.0.0.1', port: 25, host: 'haraka.test' }, relaying: false, tls: false,
    });
    if (server.notes) conn.server.notes = server.notes;
    return conn;
  },
};

export const transaction = {
  createTransaction(uuid?: string, cfg: Any = {}): Any {
    const { Transaction, ResultStore } = haraka();
    const txn = new Transaction(uuid, cfg);
    // haraka-results publishes through its connection; a standalone transaction gets a connection of its own.
    txn.results = new ResultStore(connection.createConnection());
    return txn;
  },
};

export const results = haraka().ResultStore;

/** A call-recording function, like haraka-test-fixtures' stub. */
export function stub(returns?: (...args: Any[]) => Any): Any {
  const fn: Any = (...args: Any[]) => { fn.called = true; fn.calls.push(args); fn.args = args; return returns?.(...args); };
  fn.called = false;
  fn.calls = [];
  return fn;
}

class Logger {}
addLogMethods(Logger.prototype);
export const logger: Any = Object.assign(new Logger(), { [SINK]: sink });

export { constants };
