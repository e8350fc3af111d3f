/**
 * The content of a commit turned into what the bank store writes and memory keeps: its JSON text, a normalized copy
 * (parsed back from that text, deep-frozen, so memory holds exactly what the disk holds) and its schema check — doing
 * that work only for what changed since the last committed content.
 *
 * Why this is safe: committed content is deep-frozen and never changes, and update() drafts with immer, which hands
 * back every subtree the mutator did not touch by identity. So a part (top-level key) that is the same value as in
 * the last committed content has the same text and passed the same check; a collection part (a list or a record, see
 * CONTENT_PARTS) that changed is rebuilt from its items, and an item committed before in the same part is reused
 * with its text. Everything else is serialized, parsed and checked. Boot content checked whole by the scan is adopted
 * as the base; content that never passed a check (factory defaults, a boot's recovery event) is checked at its commit.
 */
import { CONTENT_PARTS, collectionProblem, deepFreeze, itemPath, type NvramData, type PartRule } from './schema.ts';

/** Work done so far, per part: counted so tests can tell that an unchanged part was not looked at again. */
export interface EncodeWork {
  /** Value parts (and collection shapes) serialized and checked. */
  parts: Record<string, number>;
  /** Collection items serialized and checked one by one. */
  items: Record<string, number>;
}

export interface Encoded {
  /** Normalized, deep-frozen content. */
  data: NvramData;
  /** Its JSON text: the payload, identical to JSON.stringify(data). */
  text: string;
  /** Each part's `"name":text` (flat, on its own) and where each list's items lie: what the next commit reuses. */
  texts: ContentTexts;
}

/**
 * Where a committed list's items lie in its part's text (`source`, the part's `"name":[…]`): item k is
 * source.slice(from + starts[k], from + starts[k + 1] - 1), items joined by commas. A run of items kept in order (an
 * append, a trim of the oldest) goes into the next payload as one slice of this one: no text joined item by item,
 * and no text of the list apart from its part's.
 */
export interface ListText {
  source: string;
  from: number;
  starts: number[];
}

export interface ContentTexts {
  parts: Map<string, string>;
  lists: Map<string, ListText>;
}

type Part = { value: unknown; text: string | undefined };
type Fresh = { part: string; kind: 'list' | 'record'; key: string | number; value: unknown };

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

/**
 * The same text as one flat string: V8 flattens a concatenation in place when a character of it is read, and lets go
 * of the pieces (here slices of the last commit's texts) instead of keeping them alive behind it.
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

export class ContentEncoder {
  readonly work: EncodeWork = { parts: {}, items: {} };
  /** Last committed (or adopted) content: its parts are valid and their texts known or derivable. */
  private base: NvramData | null = null;
  /**
   * The base's texts (boot content has none: serialized at its first commit). Held for the base only, not in a
   * WeakMap keyed by each commit's parts: V8's young-generation GC keeps a WeakMap's values alive even when their
   * key died, so a 10 KB text per commit would be copied and promoted by every scavenge (measured: most of a commit's GC).
   */
  private baseTexts: ContentTexts = { parts: new Map(), lists: new Map() };
  /** JSON text of committed collection items (long-lived and small), filled as they are serialized. */
  private readonly texts = new WeakMap<object, string>();
  /** Collection items that passed their part's item check, with the part they were checked in. */
  private readonly checkedIn = new WeakMap<object, string>();
  /** The base whose collection items were registered in checkedIn (boot content is registered on first use). */
  private registered: object | null = null;

  /** Content that passed the full check (a boot's scan): the base for the next commit. */
  adopt(data: NvramData): void {
    this.base = data;
    this.baseTexts = { parts: new Map(), lists: new Map() };
  }

  /** The write of `encoded` is durable: it is the base now. */
  committed(encoded: Encoded): void {
    this.base = encoded.data;
    this.baseTexts = encoded.texts;
    this.registered = encoded.data;
  }

  /** Encodes `next` (a plain object); returns the first schema problem instead when the content fails its check. */
  encode(next: Record<string, unknown>): Encoded | { problem: string } {
    const base = this.base as Record<string, unknown> | null;
    if (base && this.registered !== base) this.register(base);
    const out: Record<string, unknown> = {};
    const segments: string[] = [];
    const texts: ContentTexts = { parts: new Map(), lists: new Map() };
    const fresh: Fresh[] = [];
    for (const key of Object.keys(next)) {
      let value = next[key];
      const rule = Object.hasOwn(CONTENT_PARTS, key) ? CONTENT_PARTS[key]! : null;
      let segment: string | undefined;
      if (base && Object.hasOwn(base, key) && base[key] === value) {
        segment = this.baseTexts.parts.get(key);
        if (segment === undefined) {
          const text = JSON.stringify(value) as string | undefined;
          if (text === undefined) continue; // JSON leaves out undefined and functions
          segment = `${JSON.stringify(key)}:${text}`;
        }
        const list = this.baseTexts.lists.get(key);
        if (list) texts.lists.set(key, list);
      } else {
        const part = rule && rule.kind !== 'value' && collectionProblem(key, rule.kind, value) === null ? this.collection(key, rule.kind, value, fresh, base, texts) : this.whole(value);
        if (part.text === undefined) continue;
        value = part.value;
        segment = flat(`${JSON.stringify(key)}:${part.text}`);
      }
      out[key] = value;
      texts.parts.set(key, segment);
      segments.push(segment);
    }
    const problem = this.check(base, out, fresh);
    if (problem) return { problem };
    for (const f of fresh) if (isObject(f.value)) this.checkedIn.set(f.value, f.part);
    // Braces joined with the parts: `{${…}}` around the joined text would be a second 10 KB copy (flattened again).
    const framed = [...segments];
    if (framed.length === 0) framed.push('');
    framed[0] = `{${framed[0]}`;
    framed[framed.length - 1] = `${framed.at(-1)}}`;
    const text = framed.join(',');
    return { data: Object.freeze(out) as unknown as NvramData, text, texts: this.within(segments, texts) };
  }

  /** The changed parts' rules, in CONTENT_PARTS order; of a changed collection only its shape and its new items. */
  private check(base: Record<string, unknown> | null, out: Record<string, unknown>, fresh: Fresh[]): string | null {
    for (const [name, rule] of Object.entries(CONTENT_PARTS)) {
      const present = Object.hasOwn(out, name);
      if (base && present === Object.hasOwn(base, name) && out[name] === base[name]) continue;
      this.work.parts[name] = (this.work.parts[name] ?? 0) + 1;
      const problem = rule.kind === 'value' ? rule.check(out[name], present) : collectionProblem(name, rule.kind, out[name]);
      if (problem) return problem;
      if (rule.kind !== 'value') {
        const p = this.checkItems(name, rule, fresh);
        if (p) return p;
      }
    }
    return null;
  }

  private checkItems(name: string, rule: Extract<PartRule, { kind: 'list' | 'record' }>, fresh: Fresh[]): string | null {
    for (const f of fresh) {
      if (f.part !== name) continue;
      this.work.items[name] = (this.work.items[name] ?? 0) + 1;
      const p = rule.item(f.value, itemPath(name, f.kind, f.key));
      if (p) return p;
    }
    return null;
  }

  /**
   * A list or record rebuilt item by item: items checked in this part before are reused with their text. A list is
   * walked against the base's list (appends and trims keep the other items in order), so most items cost one
   * comparison.
   */
  private collection(part: string, kind: 'list' | 'record', value: unknown, fresh: Fresh[], base: Record<string, unknown> | null, next: ContentTexts): Part {
    const reuse = (item: unknown) => isObject(item) && this.checkedIn.get(item) === part;
    if (kind === 'list') {
      const items = value as unknown[];
      const n = items.length;
      const values = new Array<unknown>(n);
      const starts = new Array<number>(n + 1);
      let joined: string | null = null;
      const add = (segment: string) => void (joined = joined === null ? segment : `${joined},${segment}`); // joined once, in the payload
      const prev = Array.isArray(base?.[part]) ? (base[part] as unknown[]) : [];
      const prevText = this.baseTexts.lists.get(part);
      let pos = 0; // length of the items' text so far, each item counted with the comma after it
      let runFrom = -1; // prev[runFrom, runTo) is being copied as one slice of prevText
      let runTo = -1;
      const endRun = () => {
        if (runFrom < 0) return;
        add(prevText!.source.slice(prevText!.from + prevText!.starts[runFrom]!, prevText!.from + prevText!.starts[runTo]! - 1));
        runFrom = -1;
      };
      for (let i = 0; i < n; i++) {
        const item = items[i];
        // The next item of the run is compared by identity first, without reading the item (a cold item costs a
        // cache miss, and a commit walks every item of the list); an equal primitive has the same text anyway.
        const at = !prevText ? -1 : runTo >= 0 && runTo < prev.length && prev[runTo] === item ? runTo : isObject(item) ? prev.indexOf(item) : -1;
        starts[i] = pos;
        if (at >= 0) {
          if (at !== runTo || runFrom < 0) {
            endRun();
            runFrom = at;
          }
          runTo = at + 1;
          values[i] = item;
          pos += prevText!.starts[at + 1]! - prevText!.starts[at]!;
          continue;
        }
        endRun();
        let text: string;
        if (reuse(item)) {
          values[i] = item;
          text = this.textOf(item)!;
        } else {
          const p = this.item(item);
          values[i] = p.text === undefined ? null : p.value; // JSON writes undefined array items as null
          text = p.text ?? 'null';
          fresh.push({ part, kind, key: i, value: values[i] });
        }
        add(text);
        pos += text.length + 1;
      }
      endRun();
      starts[n] = pos;
      next.lists.set(part, { source: '', from: 0, starts }); // placed in the payload by within()
      return { value: Object.freeze(values), text: `[${joined ?? ''}]` };
    }
    const record = value as Record<string, unknown>;
    const values: Record<string, unknown> = {};
    const texts: string[] = [];
    for (const key of Object.keys(record)) {
      const item = record[key];
      const known = reuse(item);
      const p = known ? { value: item, text: this.textOf(item) } : this.item(item);
      if (p.text === undefined) continue;
      if (!known) fresh.push({ part, kind, key, value: p.value });
      values[key] = p.value;
      texts.push(`${JSON.stringify(key)}:${p.text}`);
    }
    return { value: Object.freeze(values), text: `{${texts.join(',')}}` };
  }

  /**
   * The payload's texts for the next commit: each part's `"name":text` held flat on its own, and each list placed in
   * its part's text. Not slices of the payload: a string is one-byte or two-byte as a whole, and one `→` in an event
   * message made the whole payload two-byte (35 KiB held per printer for 17.6 KB of text, heap snapshot in
   * docs/scaling.md); on their own only the parts that hold such a character are. Flattened, so no part's text keeps
   * the older texts its kept runs were sliced from (encode() flattens each changed part before the payload is joined
   * from them). `segments` are the payload's `"name":text` in order.
   */
  private within(segments: string[], texts: ContentTexts): ContentTexts {
    const placed: ContentTexts = { parts: new Map(), lists: new Map() };
    const keys = [...texts.parts.keys()];
    for (let i = 0; i < segments.length; i++) {
      const key = keys[i]!;
      const segment = segments[i]!;
      placed.parts.set(key, segment);
      const list = texts.lists.get(key);
      if (list) placed.lists.set(key, { source: segment, from: JSON.stringify(key).length + 2, starts: list.starts }); // past `"name":[`
    }
    return placed;
  }

  /** Serialized and parsed back whole: the normalized, frozen copy of a new value. */
  private whole(value: unknown): Part {
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) return { value: undefined, text };
    return { value: deepFreeze(JSON.parse(text)), text };
  }

  /** A new collection item, as whole(); its text is kept for a later commit that finds the item elsewhere. */
  private item(value: unknown): Part {
    const p = this.whole(value);
    if (isObject(p.value)) this.texts.set(p.value, p.text!);
    return p;
  }

  /** Text of a committed collection item; boot content is serialized once, at its first commit. */
  private textOf(value: unknown): string | undefined {
    if (!isObject(value)) return JSON.stringify(value) as string | undefined;
    let text = this.texts.get(value);
    if (text === undefined) this.texts.set(value, (text = JSON.stringify(value)));
    return text;
  }

  /** Boot content passed the full check: its collection items count as checked in their parts. */
  private register(base: Record<string, unknown>): void {
    for (const [name, rule] of Object.entries(CONTENT_PARTS)) {
      if (rule.kind === 'value' || !isObject(base[name])) continue;
      for (const item of Object.values(base[name] as object)) if (isObject(item)) this.checkedIn.set(item, name);
    }
    this.registered = base;
  }
}
