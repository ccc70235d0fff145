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

  test('campaign flags and faults', () => {
    const parsed = options([
      '--campaigns-per-account',
      'CampaignScheduled=10, CampaignEnded=2',
      '--campaign-total-devices=1000000',
      '--campaign-devices-max',
      '200000',
      '--throttle-window',
      '10000ms/0.5m',
      '--campaign-error-api',
      'v3',
      '--v3-listing-path=docs',
      '--campaign-numeric-cursor',
      '--repeat-cursor-campaign',
      '60b5d639-ccdc-4db8-8824-069bd94c95bf',
      '--short-report-status',
      'Finished',
    ]);
    expect(parsed).toMatchObject({
      campaignTotalDevices: 1_000_000,
      campaignDevicesMax: 200_000,
      throttleWindow: '10s/30s',
      campaignErrorApi: 'v3',
      v3ListingPath: 'docs',
      campaignNumericCursor: true,
      repeatCursorCampaign: '60b5d639-ccdc-4db8-8824-069bd94c95bf',
      shortReportStatus: 'Finished',
    });
    expect(parsed.campaignsPerAccount).toEqual({
      perStatus: {
        CampaignRequestPending: 0,
        CampaignRequestQueued: 0,
        CampaignPreScheduled: 0,
        CampaignScheduled: 10,
        CampaignEnded: 2,
        CampaignCancelled: 0,
        CampaignAborted: 0,
        CampaignFailed: 0,
        CampaignRequestFailed: 0,
      },
    });
    expect(options(['--campaigns-per-account', '4']).campaignsPerAccount).toEqual({ mix: 4 });
  });

  test('the last setting of a flag wins, switches included', () => {
    expect(options(['--numeric-cursor', '--numeric-cursor=false']).numericCursor).toBe(false);
    expect(options(['--numeric-cursor=false', '--numeric-cursor']).numericCursor).toBe(true);
    expect(options(['--seed', '1', '--seed=2']).seed).toBe(2);
  });

  test.each([
    [['--throttle-window', '5s'], '--throttle-window: expected'],
    [['--campaign-error-api', 'v1'], '--campaign-error-api: expected v2, v3 or none'],
    [['--campaigns-per-account', 'CampaignDone=1'], '--campaigns-per-account: expected'],
    [['--numeric-cursor=maybe'], '--numeric-cursor: expected true or false'],
    [['--seed'], '--seed: missing value <n>'],
    [['--bogus=1'], '--bogus: unknown flag'],
    [['-x'], '-x: unknown flag'],
    [['stray'], 'stray: unexpected argument'],
    [
      [
        '--campaign-total-devices',
        '1000',
        '--campaign-devices-max',
        '1',
        '--campaigns-per-account',
        '2',
      ],
      '--campaign-total-devices',
    ],
  ])('%j is refused, naming %s', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(OptionError);
    expect(() => parseArgs(argv)).toThrow(message);
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
    expect(parseArgs(['-h'])).toEqual({ help: true });
    expect(parseArgs(['--bogus', '--help'])).toEqual({ help: true });
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
