/**
 * Just enough PromQL reading for the dashboard and rules checks: the vector selectors of an
 * expression, with their matchers, range and the functions they sit in. Not a validator (Prometheus
 * itself checks the syntax: promtool for the rules, the live test for the dashboard); it only has to
 * find every metric name a query reads.
 */

export interface Matcher {
  label: string;
  op: string;
  value: string;
}

export interface Selector {
  /** The metric name; '' for a selector such as {__name__=~"..."}. */
  name: string;
  matchers: Matcher[];
  /** The text inside [...] after the selector (range or subquery), if any. */
  range?: string;
  /** Functions and aggregations the selector is an argument of, innermost first. */
  calls: string[];
}

type Token =
  | { kind: 'ident'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'number'; text: string }
  | { kind: 'range'; text: string }
  | { kind: 'punct'; text: string };

const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
]);
const LABEL_LIST_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);
const KEYWORDS = new Set([
  ...LABEL_LIST_KEYWORDS,
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
]);
const NUMBER_WORDS = new Set(['inf', 'nan']);

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '#') {
      while (i < expr.length && expr.charAt(i) !== '\n') i += 1;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let text = '';
      while (j < expr.length && expr.charAt(j) !== c) {
        if (expr.charAt(j) === '\\' && c !== '`') {
          text += expr.charAt(j + 1);
          j += 2;
        } else {
          text += expr.charAt(j);
          j += 1;
        }
      }
      if (j >= expr.length) throw new Error(`unterminated string in ${expr}`);
      tokens.push({ kind: 'string', text });
      i = j + 1;
    } else if (c === '[') {
      const end = expr.indexOf(']', i);
      if (end < 0) throw new Error(`unterminated [ in ${expr}`);
      tokens.push({ kind: 'range', text: expr.slice(i + 1, end).trim() });
      i = end + 1;
    } else if (/[0-9.]/.test(c)) {
      const match = /^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?[a-z]*)/.exec(expr.slice(i));
      const text = match?.[0] ?? c;
      tokens.push({ kind: 'number', text });
      i += text.length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const text = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))?.[0] ?? c;
      tokens.push({ kind: NUMBER_WORDS.has(text.toLowerCase()) ? 'number' : 'ident', text });
      i += text.length;
    } else {
      const two = expr.slice(i, i + 2);
      const text = ['==', '!=', '<=', '>=', '=~', '!~'].includes(two) ? two : c;
      tokens.push({ kind: 'punct', text });
      i += text.length;
    }
  }
  return tokens;
}

type Frame = { kind: 'call'; name: string } | { kind: 'group' } | { kind: 'labels' };

/** Every vector selector of a PromQL expression, in order. */
export function selectors(expr: string): Selector[] {
  const tokens = tokenize(expr);
  const found: Selector[] = [];
  const stack: Frame[] = [];
  /** An aggregation whose `by (...)` came first: the next `(` after the label list is its call. */
  let pendingAggregation: string | undefined;
  let i = 0;

  const peek = (offset = 0): Token | undefined => tokens[i + offset];
  const calls = (): string[] =>
    stack.flatMap((frame) => (frame.kind === 'call' ? [frame.name] : [])).reverse();

  function readMatchers(): Matcher[] {
    // At '{'.
    const matchers: Matcher[] = [];
    i += 1;
    while (i < tokens.length && peek()?.text !== '}') {
      const label = peek();
      const op = peek(1);
      const value = peek(2);
      if (label?.kind === 'string' && (op?.text === ',' || op?.text === '}')) {
        // {"metric_name"} form
        matchers.push({ label: '__name__', op: '=', value: label.text });
        i += 1;
      } else if (label?.kind !== 'ident' || op?.kind !== 'punct' || value?.kind !== 'string') {
        throw new Error(`cannot read the matchers of ${expr}`);
      } else {
        matchers.push({ label: label.text, op: op.text, value: value.text });
        i += 3;
      }
      if (peek()?.text === ',') i += 1;
    }
    if (peek()?.text !== '}') throw new Error(`unterminated { in ${expr}`);
    i += 1;
    return matchers;
  }

  function readSelector(name: string): void {
    const selector: Selector = { name, matchers: [], calls: calls() };
    if (peek()?.text === '{') selector.matchers = readMatchers();
    if (peek()?.kind === 'range') {
      selector.range = peek()?.text;
      i += 1;
    }
    const nameMatcher = selector.matchers.find((m) => m.label === '__name__' && m.op === '=');
    if (!selector.name && nameMatcher) selector.name = nameMatcher.value;
    found.push(selector);
  }

  while (i < tokens.length) {
    const token = tokens[i];
    if (token === undefined) break;
    if (token.kind === 'ident') {
      const next = peek(1);
      if (stack.at(-1)?.kind === 'labels') {
        // A label name in by (...), on (...), group_left (...).
        i += 1;
      } else if (LABEL_LIST_KEYWORDS.has(token.text)) {
        i += 1;
        if (peek()?.text === '(') {
          stack.push({ kind: 'labels' });
          i += 1;
        }
      } else if (KEYWORDS.has(token.text)) {
        i += 1;
      } else if (next?.text === '(') {
        stack.push({ kind: 'call', name: token.text });
        i += 2;
      } else if (
        AGGREGATIONS.has(token.text) &&
        (next?.text === 'by' || next?.text === 'without')
      ) {
        pendingAggregation = token.text;
        i += 1;
      } else {
        i += 1;
        readSelector(token.text);
      }
    } else if (token.text === '{') {
      readSelector('');
    } else if (token.text === '(') {
      if (pendingAggregation !== undefined) {
        stack.push({ kind: 'call', name: pendingAggregation });
        pendingAggregation = undefined;
      } else {
        stack.push({ kind: 'group' });
      }
      i += 1;
    } else if (token.text === ')') {
      const frame = stack.pop();
      if (frame === undefined) throw new Error(`unbalanced ) in ${expr}`);
      i += 1;
      // `sum by (a) (x)`: the label list closed, the aggregation's own ( follows.
      if (frame.kind === 'labels') continue;
    } else if (token.kind === 'range') {
      // A subquery range after a parenthesised expression, or `offset`'s duration: nothing to read.
      i += 1;
    } else {
      i += 1;
    }
  }
  if (stack.length > 0) throw new Error(`unbalanced ( in ${expr}`);
  return found;
}

/** The metric names an expression reads. */
export function metricNames(expr: string): string[] {
  return [...new Set(selectors(expr).map((s) => s.name))];
}

/**
 * The selector inside a Grafana `label_values(selector, label)` variable query (or the metric alone),
 * as PromQL.
 */
export function labelValuesSelector(query: string): { selector: string; label: string } {
  const match = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/s.exec(query.trim());
  if (!match?.[1] || !match[2])
    throw new Error(`not a label_values(metric, label) query: ${query}`);
  return { selector: match[1].trim(), label: match[2] };
}

/**
 * The PromQL a Grafana variable query reads: the selector of `label_values(selector, label)`, or the
 * expression of `query_result(expr)`.
 */
export function variableExpr(query: string): string {
  const result = /^query_result\((.*)\)$/s.exec(query.trim());
  return result?.[1] ? result[1].trim() : labelValuesSelector(query).selector;
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';

/**
 * The metric names a selector reads: its name, or the names its `__name__` matcher lists (`=`, or
 * `=~` with an alternation of plain names, as in `{__name__=~"a|b"}`); any other `__name__` regex
 * could read anything, and throws.
 */
export function selectorNames(s: Selector): string[] {
  if (s.name) return [s.name];
  const matcher = s.matchers.find((m) => m.label === '__name__');
  if (!matcher) throw new Error('a selector without a metric name');
  if (matcher.op === '=') return [matcher.value];
  if (
    matcher.op === '=~' &&
    new RegExp(`^${METRIC_NAME}(\\|${METRIC_NAME})*$`).test(matcher.value)
  ) {
    return matcher.value.split('|');
  }
  throw new Error(`cannot tell which metrics __name__${matcher.op}"${matcher.value}" reads`);
}
