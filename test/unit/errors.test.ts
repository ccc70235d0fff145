import {
  isBearerRejection,
  isSessionRejection,
  parseErrorBody,
  ThingSpaceError,
} from '../../src/thingspace/errors.js';

describe('parseErrorBody', () => {
  it('reads the FOTA {errorCode, errorMessage} body', () => {
    expect(
      parseErrorBody({
        errorCode: 'INVALID_PARAMETER',
        errorMessage: 'Invalid account name format',
      }),
    ).toEqual({ code: 'INVALID_PARAMETER', message: 'Invalid account name format' });
  });

  it("reads the gateway's {fault} body, with a numeric or string code", () => {
    expect(parseErrorBody({ fault: { code: '900901', message: 'Invalid Credentials' } })).toEqual({
      code: '900901',
      message: 'Invalid Credentials',
    });
    expect(parseErrorBody({ fault: { code: 900902, message: 'Missing Credentials' } }).code).toBe(
      '900902',
    );
  });

  it('reads an OAuth-style {error, error_description} body', () => {
    expect(
      parseErrorBody({
        error: 'invalid_client',
        error_description: 'Client authentication failed',
      }),
    ).toEqual({ code: 'invalid_client', message: 'Client authentication failed' });
  });

  it.each([undefined, null, 'text', 42, [], {}])('finds nothing in %j', (body) => {
    const parsed = parseErrorBody(body);
    expect(parsed.code).toBeUndefined();
    expect(parsed.message).toBeUndefined();
  });

  it('ignores fields of the wrong type', () => {
    expect(parseErrorBody({ errorCode: 5, errorMessage: { x: 1 } })).toEqual({
      code: undefined,
      message: undefined,
    });
  });

  it('bounds what it keeps from a hostile body', () => {
    const parsed = parseErrorBody({
      errorCode: 'C'.repeat(10_000),
      errorMessage: 'M'.repeat(10_000),
    });
    expect(parsed.code!.length).toBeLessThanOrEqual(200);
    expect(parsed.message!.length).toBeLessThanOrEqual(200);
    const fault = parseErrorBody({ fault: { code: 'F'.repeat(10_000), message: 'm' } });
    expect(fault.code!.length).toBeLessThanOrEqual(200);
  });
});

describe('isBearerRejection', () => {
  it.each([
    [401, { code: '900901' }, true],
    [401, { code: '900902' }, true],
    [400, { code: '900901' }, false],
    [403, { code: '900901' }, false],
    [401, { code: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired' }, false],
    [401, { code: 'INVALID_PARAMETER' }, false],
  ])('HTTP %d with %j → %s', (status, body, expected) => {
    expect(isBearerRejection(status, body)).toBe(expected);
  });
});

describe('isSessionRejection', () => {
  it.each([
    ['UnifiedWebService.REQUEST_FAILED.SessionToken.Expired', true],
    ['UnifiedWebService.INPUT_INVALID.SessionToken.Invalid', true],
    ['INVALID_PARAMETER', false],
    ['900901', false],
    [undefined, false],
  ])('%j → %s', (code, expected) => {
    expect(isSessionRejection({ code, message: 'SessionToken mentioned in the text only' })).toBe(
      expected,
    );
  });
});

describe('ThingSpaceError', () => {
  it('carries kind, code, status and Retry-After, and is an Error', () => {
    const error = new ThingSpaceError('throttled', 'reports answered 429', 'X', 429, 7);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ThingSpaceError');
    expect(error).toMatchObject({
      kind: 'throttled',
      code: 'X',
      httpStatus: 429,
      retryAfterSeconds: 7,
    });
    expect(error.message).toBe('reports answered 429');
  });
});
