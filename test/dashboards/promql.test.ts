import { labelValuesSelector, metricNames, selectors, variableExpr } from './promql.js';

describe('selectors', () => {
  it('finds names, matchers, ranges and the enclosing calls', () => {
    const found = selectors(
      'sum by (endpoint, le) (rate(x_bucket{job=~"$job", code!="200"}[$__rate_interval])) / on (job) group_left (version) y',
    );
    expect(found).toEqual([
      {
        name: 'x_bucket',
        matchers: [
          { label: 'job', op: '=~', value: '$job' },
          { label: 'code', op: '!=', value: '200' },
        ],
        range: '$__rate_interval',
        calls: ['rate', 'sum'],
      },
      { name: 'y', matchers: [], calls: [] },
    ]);
  });

  it('does not take label lists, keywords, functions or numbers for metrics', () => {
    expect(
      metricNames(
        'count(a{l="}"} == 0) or vector(0) and on () b offset 1h unless ignoring (x) c > bool 5 and inf',
      ),
    ).toEqual(['a', 'b', 'c']);
    expect(
      metricNames('sum without (firmware_to) (d) - min_over_time(e:rec:sum[1h] offset 1h)'),
    ).toEqual(['d', 'e:rec:sum']);
    expect(metricNames('topk(10, sum by (s) (f) or sum(g) by (s))')).toEqual(['f', 'g']);
  });

  it('reads {__name__="..."} selectors and escaped strings', () => {
    expect(selectors('{__name__="h", a="x\\"y"}')[0]).toMatchObject({
      name: 'h',
      matchers: [
        { label: '__name__', op: '=', value: 'h' },
        { label: 'a', op: '=', value: 'x"y' },
      ],
    });
  });

  it('knows which function a counter sits in', () => {
    expect(selectors('increase(c_total[5m]) + c_total')).toEqual([
      { name: 'c_total', matchers: [], range: '5m', calls: ['increase'] },
      { name: 'c_total', matchers: [], calls: [] },
    ]);
  });

  it('rejects unbalanced expressions', () => {
    expect(() => selectors('sum(a')).toThrow(/unbalanced/);
    expect(() => selectors('a{b="c"')).toThrow();
  });
});

describe('labelValuesSelector', () => {
  it('splits a label_values() variable query', () => {
    expect(labelValuesSelector('label_values(m{job=~"$job"}, account)')).toEqual({
      selector: 'm{job=~"$job"}',
      label: 'account',
    });
    expect(() => labelValuesSelector('query_result(m)')).toThrow();
  });
});

describe('variableExpr', () => {
  it('reads the PromQL of a label_values() and of a query_result() variable query', () => {
    expect(variableExpr('label_values(m{job=~"$job"}, account)')).toBe('m{job=~"$job"}');
    expect(variableExpr('query_result(m{a="b"} or (vector(1) unless on() m))')).toBe(
      'm{a="b"} or (vector(1) unless on() m)',
    );
    expect(() => variableExpr('m')).toThrow();
  });
});
