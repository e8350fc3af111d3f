/**
 * Where each value of a JSON text starts (1-based line), keyed by its path ("steps.3.repeat.steps.0"), so that
 * validation errors and failed expectations can point at the line of the scenario file. JSON.parse does the real
 * parsing and reports syntax errors; this scanner only runs on text JSON.parse accepted, so it can be lenient.
 */
export type LineMap = ReadonlyMap<string, number>;

export function jsonValueLines(text: string): LineMap {
  const lines = new Map<string, number>();
  let i = 0;
  let line = 1;

  const skipSpace = () => {
    while (i < text.length) {
      const c = text[i]!;
      if (c === '\n') line++;
      else if (c !== ' ' && c !== '\t' && c !== '\r') return;
      i++;
    }
  };
  const readString = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++; // closing quote
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string) => {
    skipSpace();
    lines.set(path, line);
    const c = text[i];
    const child = (key: string | number) => (path === '' ? String(key) : `${path}.${key}`);
    if (c === '{') {
      i++;
      skipSpace();
      if (text[i] === '}') return void i++;
      for (;;) {
        skipSpace();
        const key = readString();
        skipSpace();
        i++; // ':'
        value(child(key));
        skipSpace();
        if (text[i++] === '}') return;
      }
    }
    if (c === '[') {
      i++;
      skipSpace();
      if (text[i] === ']') return void i++;
      for (let n = 0; ; n++) {
        value(child(n));
        skipSpace();
        if (text[i++] === ']') return;
      }
    }
    if (c === '"') return void readString();
    while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++; // number, true, false, null
  };
  value('');
  return lines;
}

/** The line of `path`, or of its nearest ancestor that has one. */
export function lineOf(lines: LineMap, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const found = lines.get(path.slice(0, n).join('.'));
    if (found !== undefined) return found;
  }
  return undefined;
}
