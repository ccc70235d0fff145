import { ThingSpaceError } from '../../src/thingspace/errors.js';
import { parseReportPage } from '../../src/upgrades/schema.js';

/** The example success response of the documented endpoint, misspelt cursor key included. */
const DOCUMENTED_EXAMPLE = `{
    "hasMoreFlag": false,
    "lastSeenUpgrdadeId": "efb8206b-2e88-4fdb-886d-31d8e87cd95f",
    "reportList": [
        {
            "id": "3ac8c863-bde7-4f41-878e-dd5473e973bb",
            "accountName": "0242078689-00001",
            "firmwareName": "FOTA_Verizon_Model-A_01To02_HF",
            "firmwareTo": "VerizonFirmwareVersion-02",
            "startDate": "2018-04-02",
            "status": "Queued",
            "deviceList": [
                {
                    "deviceId": "900000000000002",
                    "status": "Device Accepted",
                    "resultReason": "success"
                },
                {
                    "deviceId": "900000000000003",
                    "status": "Device Accepted",
                    "resultReason": "success"
                }
            ]
        },
        {
            "id": "efb8206b-2e88-4fdb-886d-31d8e87cd95f",
            "accountName": "0242078689-00001",
            "firmwareName": "FOTA_Verizon_Model-A_01To02_HF",
            "firmwareTo": "VerizonFirmwareVersion-02",
            "startDate": "2018-04-03",
            "status": "Queued",
            "deviceList": [
                {
                    "deviceId": "900000000000008",
                    "status": "Device Accepted",
                    "resultReason": "success"
                }
            ]
        }
    ]
}`;

function parseError(body: unknown): ThingSpaceError {
  try {
    parseReportPage(body);
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    return error as ThingSpaceError;
  }
  throw new Error(`expected ${JSON.stringify(body)} to be refused`);
}

describe('parseReportPage accepts', () => {
  it('the documented example, with its misspelt lastSeenUpgrdadeId', () => {
    const page = parseReportPage(JSON.parse(DOCUMENTED_EXAMPLE));
    expect(page.hasMore).toBe(false);
    expect(page.cursor).toBe('efb8206b-2e88-4fdb-886d-31d8e87cd95f');
    expect(page.upgrades.map((u) => u.id)).toEqual([
      '3ac8c863-bde7-4f41-878e-dd5473e973bb',
      'efb8206b-2e88-4fdb-886d-31d8e87cd95f',
    ]);
    expect(page.upgrades[0]!.firmwareTo).toBe('VerizonFirmwareVersion-02');
    expect(page.upgrades[0]!.startDate).toBe('2018-04-02');
    expect(page.upgrades[0]!.deviceList).toHaveLength(2);
    expect(page.upgrades[1]!.deviceList![0]).toMatchObject({
      deviceId: '900000000000008',
      status: 'Device Accepted',
      resultReason: 'success',
    });
  });

  it('the documented key spelling', () => {
    const page = parseReportPage({ hasMoreFlag: true, lastSeenUpgradeId: 'abc', reportList: [] });
    expect(page).toEqual({ hasMore: true, cursor: 'abc', upgrades: [] });
  });

  it('prefers the documented key when both spellings are present', () => {
    const page = parseReportPage({
      hasMoreFlag: true,
      lastSeenUpgradeId: 'right',
      lastSeenUpgrdadeId: 'wrong',
    });
    expect(page.cursor).toBe('right');
  });

  it.each([
    [0, '0'],
    [42, '42'],
    [9007199254740991, '9007199254740991'],
  ])('a numeric cursor %d as the text %j', (value, text) => {
    expect(parseReportPage({ hasMoreFlag: true, lastSeenUpgradeId: value }).cursor).toBe(text);
    expect(parseReportPage({ hasMoreFlag: true, lastSeenUpgrdadeId: value }).cursor).toBe(text);
  });

  it.each([undefined, null, ''])('no cursor (%j) as undefined', (value) => {
    expect(
      parseReportPage({ hasMoreFlag: false, lastSeenUpgradeId: value }).cursor,
    ).toBeUndefined();
  });

  it('a missing or null reportList as no upgrades', () => {
    expect(parseReportPage({ hasMoreFlag: false }).upgrades).toEqual([]);
    expect(parseReportPage({ hasMoreFlag: false, reportList: null }).upgrades).toEqual([]);
  });

  it('upgrades without optional fields, and devices without a reason', () => {
    const page = parseReportPage({
      hasMoreFlag: false,
      reportList: [
        { id: 'a' },
        { id: 'b', firmwareTo: null, startDate: null, deviceList: null },
        {
          id: 'c',
          deviceList: [{ deviceId: '1', status: 'Request Pending' }, { resultReason: null }],
        },
        { id: 'd', deviceList: [] },
      ],
    });
    expect(page.upgrades.map((u) => u.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('unknown extra fields', () => {
    const page = parseReportPage({
      hasMoreFlag: false,
      extra: { x: 1 },
      reportList: [{ id: 'a', more: 1 }],
    });
    expect(page.upgrades).toHaveLength(1);
  });
});

describe('parseReportPage refuses wrong shapes with a parse error naming the fault', () => {
  it.each([
    ['null', null, /not an object/],
    ['a string', 'hello', /not an object/],
    ['an array', [], /not an object/],
    ['no hasMoreFlag', { reportList: [] }, /hasMoreFlag/],
    ['a string hasMoreFlag', { hasMoreFlag: 'true' }, /hasMoreFlag/],
    ['a numeric hasMoreFlag', { hasMoreFlag: 1 }, /hasMoreFlag/],
    ['an object reportList', { hasMoreFlag: false, reportList: {} }, /reportList is not an array/],
    [
      'a non-object upgrade',
      { hasMoreFlag: false, reportList: [{ id: 'a' }, 7] },
      /reportList\[1\] is not an object/,
    ],
    [
      'a null upgrade',
      { hasMoreFlag: false, reportList: [null] },
      /reportList\[0\] is not an object/,
    ],
    [
      'an upgrade without id',
      { hasMoreFlag: false, reportList: [{ firmwareTo: 'x' }] },
      /reportList\[0\]\.id/,
    ],
    ['a numeric id', { hasMoreFlag: false, reportList: [{ id: 5 }] }, /reportList\[0\]\.id/],
    ['an empty id', { hasMoreFlag: false, reportList: [{ id: '' }] }, /reportList\[0\]\.id/],
    [
      'a numeric firmwareTo',
      { hasMoreFlag: false, reportList: [{ id: 'a', firmwareTo: 2 }] },
      /reportList\[0\].*firmwareTo/,
    ],
    [
      'an object startDate',
      { hasMoreFlag: false, reportList: [{ id: 'a', startDate: {} }] },
      /reportList\[0\].*startDate/,
    ],
    [
      'a string deviceList',
      { hasMoreFlag: false, reportList: [{ id: 'a', deviceList: 'x' }] },
      /reportList\[0\]\.deviceList is not an array/,
    ],
    [
      'a non-object device',
      { hasMoreFlag: false, reportList: [{ id: 'a', deviceList: [{}, 'x'] }] },
      /reportList\[0\]\.deviceList\[1\] is not an object/,
    ],
    [
      'a numeric device status',
      { hasMoreFlag: false, reportList: [{ id: 'a' }, { id: 'b', deviceList: [{ status: 3 }] }] },
      /reportList\[1\]\.deviceList\[0\].*status/,
    ],
    [
      'an object resultReason',
      { hasMoreFlag: false, reportList: [{ id: 'a', deviceList: [{ resultReason: {} }] }] },
      /deviceList\[0\].*resultReason/,
    ],
    ['a boolean cursor', { hasMoreFlag: true, lastSeenUpgradeId: true }, /lastSeenUpgradeId/],
    ['a negative cursor', { hasMoreFlag: true, lastSeenUpgradeId: -1 }, /lastSeenUpgradeId/],
    ['a fractional cursor', { hasMoreFlag: true, lastSeenUpgradeId: 1.5 }, /lastSeenUpgradeId/],
    [
      'an unsafe integer cursor',
      { hasMoreFlag: true, lastSeenUpgradeId: 2 ** 60 },
      /lastSeenUpgradeId/,
    ],
    [
      'an object cursor in the misspelt key',
      { hasMoreFlag: true, lastSeenUpgrdadeId: {} },
      /lastSeenUpgradeId/,
    ],
  ])('%s', (_what, body, pattern) => {
    const error = parseError(body);
    expect(error.kind).toBe('parse');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(pattern);
  });
});
