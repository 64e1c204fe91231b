import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config/load.js';
import { coreOptions } from '../../core/options.js';
import { logShipperModule } from '../../log-shipper/index.js';
import { settingsFrom } from '../../log-shipper/settings.js';

const specs = [...coreOptions, ...logShipperModule.options];
const stateDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sw-shipper-opts-'));

function settings(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return settingsFrom(loadConfig({ specs, argv: [`--shipper.state-dir=${stateDir()}`, ...argv], env }));
}

describe('shipper options', () => {
  it('stays idle without a destination (the default)', () => {
    expect(settingsFrom(loadConfig({ specs, argv: [], env: {} }))).toBeUndefined();
  });

  it('accepts udp, tcp and tls destinations, from flags or SWARMWATCH_SHIPPER_* variables', () => {
    expect(settings(['--shipper.destination=udp://graylog:12201'])!.destination).toMatchObject({ scheme: 'udp', host: 'graylog', port: 12201 });
    expect(settings([], { SWARMWATCH_SHIPPER_DESTINATION: 'tcp://10.0.0.1:12201' })!.destination).toMatchObject({ scheme: 'tcp', host: '10.0.0.1' });
    expect(settings(['--shipper.destination=tls://[::1]:12201'])!.destination).toMatchObject({ scheme: 'tls', host: '::1' });
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown scheme', ['--shipper.destination=foo://x:1'], /shipper\.destination.*unknown scheme "foo"/],
    ['missing port', ['--shipper.destination=foo://x'], /shipper\.destination.*scheme:\/\/host:port/],
    ['port out of range', ['--shipper.destination=tcp://x:70000'], /shipper\.destination.*port 70000 is out of range/],
    ['unreadable CA file', ['--shipper.destination=tls://x:1', '--shipper.tls-ca=/nonexistent/ca.pem'], /shipper\.tls-ca.*cannot read \/nonexistent\/ca\.pem: ENOENT/],
    ['cert without key', ['--shipper.destination=tls://x:1', `--shipper.tls-cert=${__filename}`], /shipper\.tls-key/],
    ['bad regex', ['--shipper.destination=udp://x:1', '--shipper.exclude-names=(('], /shipper\.exclude-names/],
  ];
  for (const [what, argv, re] of bad) {
    it(`rejects ${what} with SW_ERR_CONFIG_INVALID naming the option`, () => {
      let err: unknown;
      try { settings(argv); } catch (e) { err = e; }
      expect(err).toMatchObject({ code: 'SW_ERR_CONFIG_INVALID', message: expect.stringMatching(re) });
    });
  }

  it('rejects an unwritable state directory', () => {
    const file = path.join(stateDir(), 'a-file');
    fs.writeFileSync(file, '');
    expect(() => settingsFrom(loadConfig({ specs, argv: ['--shipper.destination=udp://x:1', `--shipper.state-dir=${file}/sub`], env: {} })))
      .toThrow(expect.objectContaining({ code: 'SW_ERR_CONFIG_INVALID', culprit: 'shipper.state-dir' }));
  });

  it('rejects out-of-range numbers through the core loader', () => {
    expect(() => settings(['--shipper.destination=udp://x:1', '--shipper.udp-chunk-size=10'])).toThrow(/shipper\.udp-chunk-size/);
  });
});
