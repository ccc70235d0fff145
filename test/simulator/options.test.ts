import {
  OptionError,
  defaultOptions,
  parseArgs,
  parseDuration,
  validateOptions,
} from '../../src/simulator/options.js';

function options(argv: string[]) {
  const parsed = parseArgs(argv);
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.options;
}

describe('simulator options', () => {
  test('no flags give the defaults', () => {
    expect(options([])).toEqual(defaultOptions());
  });

  test('--flag value, --flag=value and bare switches', () => {
    const parsed = options([
      '--seed=9',
      '--tick',
      '0',
      '--numeric-cursor',
      '--misspelt-cursor-key=false',
      '--hang-status',
      'Queued',
      '--listen-address',
      '[::1]:0',
    ]);
    expect(parsed).toMatchObject({
      seed: 9,
      tickMs: 0,
      numericCursor: true,
      misspeltCursorKey: false,
      hangStatus: 'Queued',
      listenAddress: { host: '::1', port: 0 },
    });
  });

  test('upgrades per status: one number or a per-status list', () => {
    expect(options(['--upgrades-per-status', '3']).upgradesPerStatus).toEqual({
      RequestPending: 3,
      Queued: 3,
      RequestFailed: 3,
      InProgress: 3,
      Finished: 3,
      UpgradeFailed: 3,
    });
    expect(options(['--upgrades-per-status', 'Queued=5, Finished=40']).upgradesPerStatus).toEqual({
      RequestPending: 0,
      Queued: 5,
      RequestFailed: 0,
      InProgress: 0,
      Finished: 40,
      UpgradeFailed: 0,
    });
    expect(() => options(['--upgrades-per-status', 'Queud=5'])).toThrow(OptionError);
  });

  test.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['1.5m', 90_000],
    ['7d', 604_800_000],
    ['2', 2000],
    ['0', 0],
  ])('duration %s is %i ms', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });

  test('--help wins', () => {
    expect(parseArgs(['--seed', '1', '--help'])).toEqual({ help: true });
  });

  test('programmatic options are validated like flags', () => {
    expect(() => validateOptions({ ...defaultOptions(), accounts: 0 })).toThrow(/accounts/);
    expect(() => validateOptions({ ...defaultOptions(), errorRate: 2 })).toThrow(/errorRate/);
    expect(() =>
      validateOptions({ ...defaultOptions(), listenAddress: { host: '10.0.0.1', port: 1 } }),
    ).toThrow(/--allow-remote/);
    expect(() =>
      validateOptions({
        ...defaultOptions(),
        allowRemote: true,
        listenAddress: { host: '10.0.0.1', port: 1 },
      }),
    ).not.toThrow();
  });
});
