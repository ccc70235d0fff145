/**
 * Looking for secrets in what a process wrote or served: each value in every form it could take on the way
 * out (raw, JSON-escaped, HTML-escaped, URL-encoded, base64, inside a Basic authorization header), and any
 * long enough piece of it, so that a secret cut short (an error message sliced to 200 characters) is
 * caught too.
 */

function htmlEscaped(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function windows(value: string, size: number): string[] {
  if (value.length <= size) return [value];
  return Array.from({ length: value.length - size + 1 }, (_, i) => value.slice(i, i + size));
}

/** The strings whose presence in `text` would reveal `value`. */
export function revealingForms(value: string, fragment = 12): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const whole = [
    value,
    json,
    htmlEscaped(value),
    encodeURIComponent(value),
    Buffer.from(value).toString('base64'),
  ];
  return [...new Set([...whole, ...windows(value, fragment), ...windows(json, fragment)])];
}

export interface Leak {
  what: string;
  form: string;
  context: string;
}

/**
 * Every place where one of `values` (named) shows in `text`; `basic` pairs (client id, secret) are also
 * looked for as the base64 of an Authorization: Basic header.
 */
export function findLeaks(
  text: string,
  values: Record<string, string>,
  basic: [string, string][] = [],
): Leak[] {
  const leaks: Leak[] = [];
  const look = (what: string, form: string) => {
    const at = text.indexOf(form);
    if (at !== -1) leaks.push({ what, form, context: text.slice(Math.max(0, at - 60), at + 60) });
  };
  for (const [what, value] of Object.entries(values)) {
    for (const form of revealingForms(value)) look(what, form);
  }
  for (const [id, secret] of basic) {
    look('basic authorization', Buffer.from(`${id}:${secret}`).toString('base64'));
  }
  return leaks;
}
