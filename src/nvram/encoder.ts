/**
 * The content of a commit turned into what the bank store writes and memory keeps: its payload (the JSON text as
 * UTF-8 bytes), a normalized copy (parsed back from the new parts' text, deep-frozen, so memory holds exactly what the
 * disk holds) and its schema check — doing that work only for what changed since the last committed content.
 *
 * Why this is safe: committed content is deep-frozen and never changes, and update() drafts with immer, which hands
 * back every subtree the mutator did not touch by identity. So a part (top-level key) that is the same value as in
 * the last committed content has the same bytes and passed the same check; a collection part (a list or a record, see
 * CONTENT_PARTS) that changed is rebuilt from its items, and an item committed before in the same part is reused.
 * Everything else is serialized, parsed and checked. Boot content checked whole by the scan is adopted as the base;
 * content that never passed a check (factory defaults, a boot's recovery event) is checked at its commit.
 *
 * The payload is built straight into a spare buffer (PayloadBuffers), beside the last committed payload: an unchanged
 * part, and a run of list items kept in order (an append, a trim of the oldest), is one copy of its bytes from there.
 * No text of the whole payload exists (it was a 10 KB string per commit, flattened, measured again in UTF-8, encoded,
 * then copied into the write buffer).
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
  /**
   * Its JSON text in UTF-8, byte for byte Buffer.from(JSON.stringify(data)). A view of `buffer`: valid until the
   * commit after this one is durable (the next encode copies from it; then its buffer goes back to the pool).
   */
  payload: Buffer;
  /** The whole buffer `payload` is a view of: the encoder keeps it once the write is durable (committed()). */
  buffer: Buffer;
  layout: PayloadLayout;
  /**
   * The values in `data` that are new (parsed back from their text) and not frozen yet: the caller deep-freezes them
   * with freezeNew() while the write is in flight, before `data` is published.
   */
  unfrozen: object[];
}

/** Deep-freezes what encode() parsed anew: after this, `encoded.data` is deep-frozen throughout. */
export function freezeNew(encoded: Encoded): void {
  for (const v of encoded.unfrozen) deepFreeze(v);
  encoded.unfrozen.length = 0;
}

/** Where a payload's parts lie: what the next commit copies from. */
export interface PayloadLayout {
  /** Each part's `"name":value`, as [start, end) in the payload. */
  parts: Map<string, [number, number]>;
  lists: Map<string, ListLayout>;
}

/**
 * Where a list part's items lie: item k is [from + starts[k], from + starts[k + 1] - 1) of the payload (items
 * joined by commas; starts[n] is one past the end of the last item).
 */
export interface ListLayout {
  from: number;
  starts: number[];
}

type Part = { value: unknown; text: string | undefined };
type Fresh = { part: string; kind: 'list' | 'record'; key: string | number; value: unknown };

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;
const PART_RULES = Object.entries(CONTENT_PARTS);
/** `"name":` of every known part: precomputed framing. */
const PART_KEYS = new Map(PART_RULES.map(([name]) => [name, keyText(name)]));
const COMMA = 0x2c;

/** all[skip…] as a new array (a frozen list is copied item by item: V8 slices a frozen array on a slow path). */
function itemsFrom(all: unknown[], skip: number): unknown[] {
  if (!Object.isFrozen(all)) return all.slice(skip);
  const out = new Array<unknown>(all.length - skip);
  for (let i = 0; i < out.length; i++) out[i] = all[skip + i];
  return out;
}

function keyText(name: string): string {
  return `${JSON.stringify(name)}:`;
}

/**
 * Bytes appended to a buffer that grows when they do not fit (the payload of one commit). A copy from the last
 * payload is held back and extended while what follows continues it there (the next part, the comma between), so
 * the unchanged parts before and after a changed one are one copy each.
 */
class PayloadBuilder {
  /** Bytes so far, the held-back copy included. */
  pos = 0;
  private src: Buffer | null = null;
  private from = 0;
  private to = 0;
  constructor(public buf: Buffer) {}

  byte(c: number): void {
    if (this.src !== null && this.src[this.to] === c) {
      this.to++;
      this.pos++;
      return;
    }
    this.flush();
    if (this.pos >= this.buf.length) this.grow(this.pos + 1);
    this.buf[this.pos++] = c;
  }

  text(s: string): void {
    this.flush();
    // A UTF-16 code unit is at most 3 bytes of UTF-8: the exact length is measured only near the end of the buffer.
    if (this.pos + 3 * s.length > this.buf.length) this.grow(this.pos + Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  copy(src: Buffer, start: number, end: number): void {
    if (this.src !== src || start !== this.to) {
      this.flush();
      this.src = src;
      this.from = start;
    }
    this.to = end;
    this.pos += end - start;
  }

  /** The payload: a view of `buf`. */
  finish(): Buffer {
    this.flush();
    return this.buf.subarray(0, this.pos);
  }

  private flush(): void {
    if (this.src === null) return;
    const at = this.pos - (this.to - this.from);
    if (this.pos > this.buf.length) this.grow(this.pos, at);
    this.src.copy(this.buf, at, this.from, this.to);
    this.src = null;
  }

  /** Room for `total` bytes; the first `kept` (default: all so far) are carried over. */
  private grow(total: number, kept = this.pos): void {
    // A quarter to spare, in whole pages: a payload that grows by an event does not reallocate at every commit.
    const next = Buffer.allocUnsafe(Math.ceil((total * 1.25) / 4096) * 4096);
    this.buf.copy(next, 0, 0, kept);
    this.buf = next;
  }
}

const noLayout = (): PayloadLayout => ({ parts: new Map(), lists: new Map() });

/**
 * Spare payload buffers, handed from the commits that finished to the ones that start. An encoder keeps the last
 * committed payload (the next commit copies from it) and builds the next one in a buffer from here; each NVRAM has
 * its own pool of one by default (double buffering). The printers of one process can share one pool: what is kept
 * per printer is then one buffer, not two (10,000 printers: ~27 KiB less RSS each, docs/scaling.md). A buffer holds payload bytes of
 * whoever used it last until the next encode writes over them: only the new payload's range is ever read or written.
 */
export class PayloadBuffers {
  private readonly free: Buffer[] = [];
  /** `keep`: spare buffers held at most (about the commits in flight at once); more are left to the GC. */
  constructor(private readonly keep = 1) {}
  take(): Buffer {
    return this.free.pop() ?? EMPTY;
  }
  give(buf: Buffer): void {
    if (buf.length > 0 && this.free.length < this.keep) this.free.push(buf);
  }
}

const EMPTY = Buffer.alloc(0);

export class ContentEncoder {
  readonly work: EncodeWork = { parts: {}, items: {} };
  /** Last committed (or adopted) content: its parts are valid. */
  private base: NvramData | null = null;
  /** Where the base's parts lie in its payload (boot content has none: serialized at its first commit). */
  private layout: PayloadLayout = noLayout();
  /** The base's payload (the last commit's): what the next commit copies unchanged parts from. */
  private committedBuf: Buffer = EMPTY;
  /** Collection items that passed their part's item check, with the part they were checked in. */
  private readonly checkedIn = new WeakMap<object, string>();
  /** The base whose collection items were registered in checkedIn (boot content is registered on first use). */
  private registered: object | null = null;
  /** What the encode() under way parsed anew (see Encoded.unfrozen). */
  private unfrozen: object[] = [];

  constructor(private readonly buffers: PayloadBuffers = new PayloadBuffers()) {}

  /** Content that passed the full check (a boot's scan): the base for the next commit. */
  adopt(data: NvramData): void {
    this.base = data;
    this.layout = noLayout();
  }

  /** The write of `encoded` is durable: it is the base now, and its buffer the one the next commit copies from. */
  committed(encoded: Encoded): void {
    this.base = encoded.data;
    this.layout = encoded.layout;
    this.registered = encoded.data;
    if (encoded.buffer !== this.committedBuf) this.buffers.give(this.committedBuf);
    this.committedBuf = encoded.buffer;
  }

  /**
   * Encodes `next` (a plain object); returns the first schema problem instead when the content fails its check.
   * `limits`: list parts kept to their newest items (the bound is applied here, while the list is walked anyway,
   * not by a copy of it beforehand).
   */
  encode(next: Record<string, unknown>, limits: Readonly<Record<string, number>> = {}): Encoded | { problem: string } {
    const base = this.base as Record<string, unknown> | null;
    if (base && this.registered !== base) this.register(base);
    const out: Record<string, unknown> = {};
    const layout = noLayout();
    const fresh: Fresh[] = [];
    this.unfrozen = [];
    const b = new PayloadBuilder(this.buffers.take());
    b.byte(0x7b); // {
    for (const key of Object.keys(next)) {
      let value = next[key];
      const limit = Object.hasOwn(limits, key) ? limits[key]! : Infinity;
      const trimmed = Array.isArray(value) && value.length > limit;
      const unchanged = !trimmed && base !== null && Object.hasOwn(base, key) && base[key] === value;
      const rule = Object.hasOwn(CONTENT_PARTS, key) ? CONTENT_PARTS[key]! : null;
      const known = unchanged ? this.layout.parts.get(key) : undefined;
      const start = b.pos === 1 ? 1 : b.pos + 1; // past the comma written below
      if (known) {
        if (start > 1) b.byte(COMMA);
        b.copy(this.committedBuf, known[0], known[1]);
        const list = this.layout.lists.get(key);
        if (list) layout.lists.set(key, { from: list.from - known[0] + start, starts: list.starts });
      } else if (rule && rule.kind !== 'value' && collectionProblem(key, rule.kind, value) === null) {
        if (start > 1) b.byte(COMMA);
        b.text(PART_KEYS.get(key)!);
        if (rule.kind === 'list') {
          const list = this.list(b, key, value as unknown[], trimmed ? (value as unknown[]).length - limit : 0, base, fresh, unchanged);
          value = list.value;
          layout.lists.set(key, list.layout);
        } else {
          value = this.record(b, key, value as Record<string, unknown>, fresh, unchanged);
        }
      } else {
        const part: Part = unchanged ? { value, text: JSON.stringify(value) as string | undefined } : this.whole(value);
        if (part.text === undefined) continue; // JSON leaves out undefined and functions
        value = part.value;
        if (start > 1) b.byte(COMMA);
        b.text(PART_KEYS.get(key) ?? keyText(key));
        b.text(part.text);
      }
      out[key] = value;
      layout.parts.set(key, [start, b.pos]);
    }
    b.byte(0x7d); // }
    const payload = b.finish();
    const problem = this.check(base, out, fresh);
    if (problem) {
      this.buffers.give(b.buf);
      return { problem };
    }
    for (const f of fresh) if (isObject(f.value)) this.checkedIn.set(f.value, f.part);
    return { data: Object.freeze(out) as unknown as NvramData, payload, buffer: b.buf, layout, unfrozen: this.unfrozen };
  }

  /** The changed parts' rules, in CONTENT_PARTS order; of a changed collection only its shape and its new items. */
  private check(base: Record<string, unknown> | null, out: Record<string, unknown>, fresh: Fresh[]): string | null {
    for (const [name, rule] of PART_RULES) {
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

  /** Whether `item` passed this part's item check in an earlier commit (or the boot's scan). */
  private checkedInPart(item: unknown, part: string): boolean {
    return isObject(item) && this.checkedIn.get(item) === part;
  }

  /**
   * A list written item by item. It is walked against the base's list (appends and trims keep the other items in
   * order): an item of the base starts a run, which goes on while the next items are the base's next ones, by
   * identity (no item is read: a cold item costs a cache miss, and a commit walks every item of the list), and the
   * run's bytes are one copy. An `unchanged` list (the base's own, whose bytes are not known yet: boot content) is
   * only serialized, to learn where its items lie. The first `skip` items are left out (the oldest, beyond the
   * part's limit).
   */
  private list(b: PayloadBuilder, part: string, all: unknown[], skip: number, base: Record<string, unknown> | null, fresh: Fresh[], unchanged: boolean): { value: unknown; layout: ListLayout } {
    const n = all.length - skip;
    const values = unchanged ? null : itemsFrom(all, skip);
    const starts = new Array<number>(n + 1);
    const prevLayout = unchanged ? undefined : this.layout.lists.get(part);
    const prev = prevLayout && Array.isArray(base?.[part]) ? (base[part] as unknown[]) : [];
    const src = this.committedBuf;
    const prevFrom = prevLayout?.from ?? 0;
    const prevStarts = prevLayout?.starts ?? [];
    b.byte(0x5b); // [
    const from = b.pos;
    let next = 0; // where in prev the last run ended: the first place to look for the next item
    for (let i = 0; i < n; ) {
      const item = all[skip + i];
      const at = !prevLayout ? -1 : next < prev.length && prev[next] === item ? next : isObject(item) ? prev.indexOf(item) : -1;
      if (i > 0) b.byte(COMMA);
      if (at >= 0) {
        let end = at + 1;
        while (i + end - at < n && end < prev.length && all[skip + i + end - at] === prev[end]) end++;
        const shift = b.pos - from - prevStarts[at]!;
        for (let k = at; k < end; k++) starts[i + k - at] = prevStarts[k]! + shift;
        b.copy(src, prevFrom + prevStarts[at]!, prevFrom + prevStarts[end]! - 1);
        i += end - at;
        next = end;
        continue;
      }
      starts[i] = b.pos - from;
      if (values === null || this.checkedInPart(item, part)) {
        b.text((JSON.stringify(item) as string | undefined) ?? 'null');
      } else {
        const p = this.whole(item);
        values[i] = p.text === undefined ? null : p.value; // JSON writes undefined array items as null
        fresh.push({ part, kind: 'list', key: i, value: values[i] });
        b.text(p.text ?? 'null');
      }
      i++;
    }
    starts[n] = b.pos - from + 1;
    b.byte(0x5d); // ]
    return { value: values === null ? all : Object.freeze(values), layout: { from, starts } };
  }

  /** A record written item by item; items checked in this part before are reused (records are small: no layout). */
  private record(b: PayloadBuilder, part: string, record: Record<string, unknown>, fresh: Fresh[], unchanged: boolean): unknown {
    const values: Record<string, unknown> = {};
    let first = true;
    b.byte(0x7b); // {
    for (const key of Object.keys(record)) {
      const item = record[key];
      const known = unchanged || this.checkedInPart(item, part);
      const p = known ? { value: item, text: JSON.stringify(item) as string | undefined } : this.whole(item);
      if (p.text === undefined) continue;
      if (!known) fresh.push({ part, kind: 'record', key, value: p.value });
      values[key] = p.value;
      if (!first) b.byte(COMMA);
      first = false;
      b.text(keyText(key));
      b.text(p.text);
    }
    b.byte(0x7d); // }
    return unchanged ? record : Object.freeze(values);
  }

  /**
   * Serialized and parsed back whole: the normalized copy of a new value. Frozen later (freezeNew): the freeze of a
   * new snapshot or item need not hold up the write.
   */
  private whole(value: unknown): Part {
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) return { value: undefined, text };
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed)) this.unfrozen.push(parsed);
    return { value: parsed, text };
  }

  /** Boot content passed the full check: its collection items count as checked in their parts. */
  private register(base: Record<string, unknown>): void {
    for (const [name, rule] of PART_RULES) {
      if (rule.kind === 'value' || !isObject(base[name])) continue;
      for (const item of Object.values(base[name] as object)) if (isObject(item)) this.checkedIn.set(item, name);
    }
    this.registered = base;
  }
}
