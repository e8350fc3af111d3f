/**
 * Where each value of a JSON text starts (1-based line), keyed by its path ("steps.3.repeat.steps.0"), so that
 * validation errors and failed expectations can point at the line of the scenario file. JSON.parse does the real
 * parsing; this scanner follows the same grammar so that, when JSON.parse refuses a text (Node 20 does not say
 * where), it can name the line: it throws JsonSyntaxError at the first token that does not fit.
 */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

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
  const fail = (what: string): never => {
    const found = i < text.length ? JSON.stringify(text[i]) : 'the end of the text';
    throw new JsonSyntaxError(`expected ${what}, found ${found}`, line);
  };
  const expectChar = (c: string, what: string) => {
    skipSpace();
    if (text[i] !== c) fail(what);
    i++;
  };
  const readString = (): string => {
    if (text[i] !== '"') fail('a string in double quotes');
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
    if (text[i] !== '"') fail('the closing quote of a string');
    i++; // closing quote
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('a valid string escape');
    }
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
        expectChar(':', '":" after a key');
        value(child(key));
        skipSpace();
        if (text[i] === '}') return void i++;
        expectChar(',', '"," or "}" after a value in an object');
      }
    }
    if (c === '[') {
      i++;
      skipSpace();
      if (text[i] === ']') return void i++;
      for (let n = 0; ; n++) {
        value(child(n));
        skipSpace();
        if (text[i] === ']') return void i++;
        expectChar(',', '"," or "]" after a value in an array');
      }
    }
    if (c === '"') return void readString();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 64));
    if (!literal) fail('a value (object, array, string, number, true, false or null)');
    i += literal![0].length;
  };
  value('');
  skipSpace();
  if (i < text.length) fail('the end of the text after the top-level value');
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
