// A strict JSON (RFC 8259) syntax checker that finds the exact position of the first problem in one line.
// It runs only after JSON.parse has rejected a line, so it favours clear messages over speed. It is
// iterative (an explicit stack) so that a 200,000-deep array cannot overflow the call stack, and it
// rejects what jsonc-parser tolerates: comments, trailing commas, raw control characters.

export interface JsonSyntaxError {
  /** UTF-16 offset of the first offending character (or the line's length when the line ends too early). */
  offset: number;
  endOffset: number;
  message: string;
}

enum Container {
  Object = 1,
  Array = 2,
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function describe(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (c < 0x20 || c === 0x7f) return `control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  if (c === 0xfffd) return "'\uFFFD' (replacement character: the bytes were not UTF-8)";
  return `'${ch}'`;
}

const CONTROL_ESCAPES: Record<number, string> = { 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f' };

/** The first syntax error of `text` as a single JSON value, or undefined when it is valid JSON. */
export function findJsonSyntaxError(text: string, start = 0): JsonSyntaxError | undefined {
  const n = text.length;
  let i = start;
  const stack: Container[] = [];
  // What the parser expects next.
  // value: a value; key: a key or '}' (right after '{'); keyOnly: a key (after ','); colon; afterValue: ',' or closer.
  type State = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'afterValue' | 'end';
  let state: State = 'value';
  let lastComma = -1;

  const err = (offset: number, message: string, length = 1): JsonSyntaxError => ({
    offset,
    endOffset: Math.min(n, offset + length),
    message,
  });
  const truncated = (what: string): JsonSyntaxError => ({
    offset: n,
    endOffset: n,
    message: `the line ends ${what} (truncated record?)`,
  });

  const wordAt = (p: number): string => {
    const m = /^[A-Za-z_$][\w$]*/.exec(text.slice(p, p + 40));
    return m ? m[0] : text[p];
  };

  const unexpected = (p: number, expected: string): JsonSyntaxError => {
    const c = text.charCodeAt(p);
    if (c === 0x2f && (text.charCodeAt(p + 1) === 0x2f || text.charCodeAt(p + 1) === 0x2a)) {
      return err(p, 'comments are not allowed in JSON', 2);
    }
    if (c === 0x27) return err(p, 'strings must use double quotes, not single quotes');
    const w = wordAt(p);
    if (/^[A-Za-z_$]/.test(w)) {
      if (w === 'NaN' || w === 'Infinity' || w === 'undefined') return err(p, `'${w}' is not a JSON value`, w.length);
      if (state === 'key' || state === 'keyOrClose') return err(p, `property names must be double-quoted strings, found ${w}`, w.length);
      return err(p, `unexpected '${w}', expected ${expected}`, w.length);
    }
    return err(p, `unexpected ${describe(String.fromCodePoint(text.codePointAt(p)!))}, expected ${expected}`, c >= 0xd800 && c <= 0xdbff ? 2 : 1);
  };

  // Returns the index after the string starting at p (text[p] === '"'), or an error.
  const scanString = (p: number): number | JsonSyntaxError => {
    let j = p + 1;
    for (;;) {
      if (j >= n) return truncated('inside a string');
      const c = text.charCodeAt(j);
      if (c === 0x22) return j + 1;
      if (c === 0x5c) {
        const e = text.charCodeAt(j + 1);
        if (j + 1 >= n) return truncated('inside a string');
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) {
            if (j + k >= n) return truncated('inside a \\u escape');
            if (!/[0-9a-fA-F]/.test(text[j + k])) return err(j, 'invalid \\u escape: expected 4 hex digits', k + 1);
          }
          j += 6;
          continue;
        }
        if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          j += 2;
          continue;
        }
        return err(j, `invalid escape '\\${text[j + 1]}' in a string`, 2);
      }
      if (c < 0x20) {
        const esc = CONTROL_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`;
        return err(j, `raw ${describe(text[j])} inside a string; write it as ${esc}`);
      }
      j++;
    }
  };

  const scanNumber = (p: number): number | JsonSyntaxError => {
    let j = p;
    if (text.charCodeAt(j) === 0x2d) j++;
    if (j >= n) return truncated('inside a number');
    const first = text.charCodeAt(j);
    if (first === 0x30) {
      j++;
      if (isDigit(text.charCodeAt(j))) return err(p, 'numbers must not have leading zeros', j - p + 1);
    } else if (isDigit(first)) {
      while (isDigit(text.charCodeAt(j))) j++;
    } else {
      return err(j, `invalid number: expected a digit after '-'`);
    }
    if (text.charCodeAt(j) === 0x2e) {
      j++;
      if (j >= n) return truncated('inside a number');
      if (!isDigit(text.charCodeAt(j))) return err(j - 1, 'invalid number: expected a digit after the decimal point', 1);
      while (isDigit(text.charCodeAt(j))) j++;
    }
    const e = text.charCodeAt(j);
    if (e === 0x65 || e === 0x45) {
      j++;
      const s = text.charCodeAt(j);
      if (s === 0x2b || s === 0x2d) j++;
      if (j >= n) return truncated('inside a number');
      if (!isDigit(text.charCodeAt(j))) return err(j, 'invalid number: expected a digit in the exponent');
      while (isDigit(text.charCodeAt(j))) j++;
    }
    return j;
  };

  const afterClose = (): State => (stack.length === 0 ? 'end' : 'afterValue');

  for (;;) {
    while (i < n && isWs(text.charCodeAt(i))) i++;
    if (i >= n) {
      if (state === 'end') return undefined;
      if (stack.length === 0 && state === 'value') return { offset: n, endOffset: n, message: 'the line has no JSON value' };
      const inside = stack[stack.length - 1] === Container.Object ? 'inside an object' : 'inside an array';
      return truncated(`${inside} that is never closed`);
    }
    const c = text.charCodeAt(i);
    switch (state) {
      case 'end':
        if (c === 0x2f && (text.charCodeAt(i + 1) === 0x2f || text.charCodeAt(i + 1) === 0x2a)) return err(i, 'comments are not allowed in JSON', 2);
        return err(i, 'unexpected text after the JSON value (one record per line)', n - i);
      case 'value':
      case 'valueOrClose': {
        if (state === 'valueOrClose' && c === 0x5d) {
          stack.pop();
          i++;
          state = afterClose();
          break;
        }
        if (c === 0x7b) {
          stack.push(Container.Object);
          state = 'keyOrClose';
          i++;
        } else if (c === 0x5b) {
          stack.push(Container.Array);
          state = 'valueOrClose';
          i++;
        } else if (c === 0x22) {
          const r = scanString(i);
          if (typeof r !== 'number') return r;
          i = r;
          state = afterClose();
        } else if (c === 0x2d || isDigit(c)) {
          const r = scanNumber(i);
          if (typeof r !== 'number') return r;
          i = r;
          state = afterClose();
        } else if (text.startsWith('true', i) || text.startsWith('null', i)) {
          i += 4;
          state = afterClose();
        } else if (text.startsWith('false', i)) {
          i += 5;
          state = afterClose();
        } else if ((c === 0x5d || c === 0x7d) && lastComma >= 0 && state === 'value') {
          return err(lastComma, 'trailing comma: remove it or add a value after it');
        } else {
          // A prefix of a literal cut off by the end of the line.
          const rest = text.slice(i);
          if (['true', 'false', 'null'].some((w) => w.startsWith(rest))) return truncated('inside a literal');
          return unexpected(i, 'a value');
        }
        break;
      }
      case 'key':
      case 'keyOrClose': {
        if (c === 0x7d) {
          if (state === 'key') return err(lastComma, 'trailing comma: remove it or add a property after it');
          stack.pop();
          i++;
          state = afterClose();
          break;
        }
        if (c !== 0x22) return unexpected(i, state === 'key' ? 'a property name' : "a property name or '}'");
        const r = scanString(i);
        if (typeof r !== 'number') return r;
        i = r;
        state = 'colon';
        break;
      }
      case 'colon':
        if (c !== 0x3a) return unexpected(i, "':' after the property name");
        i++;
        state = 'value';
        lastComma = -1;
        break;
      case 'afterValue': {
        const top = stack[stack.length - 1];
        if (c === 0x2c) {
          lastComma = i;
          i++;
          state = top === Container.Object ? 'key' : 'value';
        } else if (c === 0x7d && top === Container.Object) {
          stack.pop();
          i++;
          state = afterClose();
        } else if (c === 0x5d && top === Container.Array) {
          stack.pop();
          i++;
          state = afterClose();
        } else if (c === 0x7d || c === 0x5d) {
          return err(i, `'${text[i]}' does not match the open '${top === Container.Object ? '{' : '['}'`);
        } else {
          return unexpected(i, top === Container.Object ? "',' or '}'" : "',' or ']'");
        }
        break;
      }
    }
    if (state !== 'value') lastComma = state === 'key' ? lastComma : -1;
  }
}

/** Deepest nesting of objects/arrays in a line (strings skipped); stops counting once `limit` is passed. */
export function nestingDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
