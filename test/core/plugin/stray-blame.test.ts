// Which plugin a stack frame belongs to, for the log line of an error nobody caught (core/plugin/stray-errors.ts):
// the haraka shim's plugins run from outside plugins/haraka/, so their frames are the shim's too.
import assert from 'node:assert/strict';
import path from 'node:path';
import { blamePlugin, pluginPlaces } from '../../../core/plugin/stray-errors.ts';

const project = '/srv/mailmoat';
const configDir = '/etc/mailmoat';
const frame = (file: string) => `Error: boom\n    at Timeout._onTimeout (${file}:3:9)\n    at listOnTimeout (node:internal/timers:608:17)`;

describe('blamePlugin', () => {
  const places = pluginPlaces([
    { name: 'haraka', dir: 'haraka' },
    { name: 'mine', module: '/opt/filters/mine/index.ts' },
  ], project, configDir);

  it('names a built-in plugin by its folder and a module plugin by its entry', () => {
    assert.equal(blamePlugin(frame(`${project}/plugins/rules/index.ts`), places, project), 'rules');
    assert.equal(blamePlugin(frame('/opt/filters/mine/helper.ts'), places, project), 'mine');
  });

  it('names the haraka shim for a plugin in its dir (relative to the config), Haraka\'s own, or a haraka-plugin-* package', () => {
    assert.equal(blamePlugin(frame(path.join(configDir, 'haraka/plugins/w3_bad.js')), places, project), 'haraka');
    assert.equal(blamePlugin(frame(`${project}/node_modules/haraka/plugins/relay.js`), places, project), 'haraka');
    assert.equal(blamePlugin(frame(`${project}/node_modules/haraka-plugin-dkim/index.js`), places, project), 'haraka');
  });

  it('names no plugin for a library the core uses, nor without a haraka entry', () => {
    assert.equal(blamePlugin(frame(`${project}/node_modules/smtp-server/lib/smtp-connection.js`), places, project), undefined);
    const noHaraka = pluginPlaces([{ name: 'rules' }], project, configDir);
    assert.equal(blamePlugin(frame(`${project}/node_modules/haraka-plugin-dkim/index.js`), noHaraka, project), undefined);
  });
});
