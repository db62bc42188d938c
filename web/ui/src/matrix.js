// Reading a range query's answer into columns, while it arrives.
//
// A 500 × 720 graph is a 7–8 MB answer. JSON.parse turns it into 360 000
// two-element arrays and as many value strings, which the graph then reads
// once and throws away: most of the time from data to drawn went into
// building and collecting that garbage (docs/benchmarks.md, "Web UI").
// This reader walks the bytes of a matrix answer once, series by series
// as the response streams in, and writes each series' timestamps and
// values straight into Float64Arrays (never decoding them to strings); by
// the last byte only the last series is left to read. Labels, warnings and anything else small still go through
// JSON.parse, and any text that is not the exact shape below (or is not
// valid JSON there) is handed whole to JSON.parse, so the result never
// depends on the fast path:
//
//   {"status":"success","data":{"resultType":"matrix","result":[
//     {"metric":{...},"values":[[<number>,"<value>"],...]}, ...]} <rest>}

import { parseValue } from './series.js';

const HEAD = '{"status":"success","data":{"resultType":"matrix","result":[';
const utf8 = new TextEncoder();
const HEAD_BYTES = utf8.encode(HEAD);
const METRIC = utf8.encode('{"metric":');
const VALUES = utf8.encode(',"values":[');

// Exact powers of ten: a decimal with at most 15 significant digits and
// at most 22 after the point is its integer digits divided by one of
// these, which IEEE division rounds correctly (both operands are exact).
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

class Shape extends Error {}

/**
 * Parses the text of a query_range answer. Returns the parsed envelope;
 * for a successful matrix every series is `{metric, t, v}` with `t`
 * (seconds) and `v` as Float64Arrays of the same length; histogram
 * samples, if any, stay as `histograms`.
 */
export function parseRangeAnswer(text) {
  const r = new RangeAnswerReader();
  r.push(utf8.encode(text));
  return r.finish();
}

/** parseRangeAnswer over a fetch Response, reading as the body arrives. */
export async function readRangeAnswer(res) {
  const r = new RangeAnswerReader();
  const body = res.body.getReader();
  for (;;) {
    const { done, value } = await body.read();
    if (done) break;
    r.push(value);
  }
  return r.finish();
}

const FIRST = 0; // before the result list
const SERIES = 1; // at a series (or the list's end)
const TAIL = 2; // after the result list
const GENERAL = 3; // not the fast shape: JSON.parse at the end

/** Bytes pushed in pieces (any split, even inside a number or a character). */
export class RangeAnswerReader {
  constructor() {
    this.parts = [];
    this.buf = new Uint8Array(0);
    this.state = FIRST;
    this.result = [];
    this.t = new Float64Array(1024);
    this.v = new Float64Array(1024);
  }

  push(bytes) {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    if (this.state === GENERAL) return;
    if (this.buf.length === 0) this.buf = bytes;
    else {
      const both = new Uint8Array(this.buf.length + bytes.length);
      both.set(this.buf);
      both.set(bytes, this.buf.length);
      this.buf = both;
    }
    try {
      this.advance();
    } catch (e) {
      // A label set that is not JSON is reported by the general path too.
      if (!(e instanceof Shape) && !(e instanceof SyntaxError)) throw e;
      this.state = GENERAL;
      this.buf = new Uint8Array(0);
    }
  }

  /** Whether the answer left the fast shape (for tests). */
  get general() {
    return this.state !== TAIL;
  }

  finish() {
    LATIN1 = LATIN1_OF = null;
    if (this.state === TAIL) {
      // What follows the result list (the end of data, warnings, infos)
      // is small: let JSON.parse read and check it.
      try {
        const rest = JSON.parse(`${HEAD}]${text(this.buf, 0, this.buf.length)}`);
        rest.data.result = this.result;
        return rest;
      } catch {
        // Not valid JSON after all: the general path reports it.
        this.state = GENERAL;
      }
    }
    const all = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    // As res.json() reads it: bytes that are not UTF-8 become U+FFFD.
    return columnsOf(JSON.parse(new TextDecoder().decode(all)));
  }

  advance() {
    const buf = this.buf;
    let pos = 0;
    if (this.state === FIRST) {
      if (buf.length < HEAD_BYTES.length + 1) return;
      if (!startsWith(buf, 0, HEAD_BYTES)) throw new Shape();
      pos = HEAD_BYTES.length;
      if (buf[pos] === 93 /* ] */) {
        this.state = TAIL;
        this.buf = buf.subarray(pos + 1);
        return;
      }
      this.state = SERIES;
    }
    while (this.state === SERIES) {
      // A series is read only once all of it is here: its labels, then its
      // values up to the first "}", then the comma or bracket after it.
      if (buf.length - pos < METRIC.length) break;
      if (!startsWith(buf, pos, METRIC)) throw new Shape();
      const metricEnd = objectEnd(buf, pos + METRIC.length);
      if (metricEnd < 0) break;
      const close = closeOf(buf, metricEnd);
      if (close < 0 || close + 2 >= buf.length) break;
      pos = this.series(buf, pos + METRIC.length, metricEnd, close + 2);
      const c = buf[pos++];
      if (c === 93) this.state = TAIL;
      else if (c !== 44 /* , */) throw new Shape();
    }
    // Copied, so that the chunk behind it can go.
    this.buf = buf.slice(pos);
  }

  /** Reads the series whose labels are b[i, metricEnd) and which ends at `end`. */
  series(b, i, metricEnd, end) {
    const metric = JSON.parse(text(b, i, metricEnd));
    i = metricEnd;
    if (!startsWith(b, i, VALUES)) throw new Shape();
    i += VALUES.length;
    let { t, v } = this;
    let n = 0;
    if (b[i] === 93) i++;
    else {
      for (;;) {
        if (n === t.length) {
          this.t = t = grow(t);
          this.v = v = grow(v);
        }
        if (b[i] !== 91 /* [ */) throw new Shape();
        i++;
        t[n] = decimal(b, i, true);
        i = END;
        if (b[i] !== 44 || b[i + 1] !== 34) throw new Shape();
        v[n] = value(b, i + 2);
        i = END;
        if (i >= end || b[i] !== 34 || b[i + 1] !== 93) throw new Shape();
        n++;
        i += 2;
        const c = b[i++];
        if (c === 93) break;
        if (c !== 44) throw new Shape();
      }
    }
    // Anything after the values (histogram samples) is left to the
    // general path.
    if (b[i] !== 125 /* } */ || i + 1 !== end) throw new Shape();
    this.result.push({ metric, t: t.slice(0, n), v: v.slice(0, n) });
    return end;
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** b[i, j) as a string; bytes that are not UTF-8 are the general path's to report. */
function text(b, i, j) {
  try {
    return decoder.decode(b.subarray(i, j));
  } catch {
    throw new Shape();
  }
}

/** b[i, j) as a string, for bytes known to be ASCII (a number's digits): far cheaper than a TextDecoder call. */
let LATIN1 = null;
let LATIN1_OF = null;
// 'latin1' is windows-1252 to a TextDecoder: still one character per byte,
// so string and byte offsets agree, and the same for ASCII.
const latin1 = new TextDecoder('latin1');
function ascii(b, i, j) {
  // One decode of the whole buffer, reused for every long number in it.
  if (LATIN1_OF !== b) {
    LATIN1 = latin1.decode(b);
    LATIN1_OF = b;
  }
  return LATIN1.slice(i, j);
}

function startsWith(b, at, prefix) {
  if (b.length - at < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (b[at + k] !== prefix[k]) return false;
  return true;
}

/**
 * Index of the "]" before the first "}" at or after `from` (values hold
 * no "}", so that brace closes the series), or -1 if it is not here yet.
 */
function closeOf(b, from) {
  const k = b.indexOf(125, from);
  if (k < 0) return -1;
  if (b[k - 1] !== 93) throw new Shape();
  return k - 1;
}

/** The same columns from an already parsed envelope (the slow path). */
export function columnsOf(body) {
  if (body && body.status === 'success' && body.data && body.data.resultType === 'matrix' && Array.isArray(body.data.result)) {
    body.data.result = body.data.result.map((s) => {
      const values = s.values || [];
      const t = new Float64Array(values.length);
      const v = new Float64Array(values.length);
      values.forEach(([ts, x], i) => {
        t[i] = Number(ts);
        v[i] = parseValue(x);
      });
      const out = { metric: s.metric || {}, t, v };
      if (s.histograms) out.histograms = s.histograms;
      return out;
    });
  }
  return body;
}

function grow(a) {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** End of the JSON object starting at `i` (one past its closing brace), or -1 if it goes on past the text. */
function objectEnd(b, i) {
  if (i >= b.length) return -1;
  if (b[i] !== 123) throw new Shape();
  let depth = 0;
  for (let k = i; k < b.length; k++) {
    const c = b[k];
    if (c === 34) {
      // Skip the string, escapes included.
      for (k++; k < b.length; k++) {
        const d = b[k];
        if (d === 92) k++;
        else if (d === 34) break;
      }
    } else if (c === 123) depth++;
    else if (c === 125 && --depth === 0) return k + 1;
  }
  return -1;
}

// Where the last decimal() or value() stopped: one past its text.
let END = 0;

function numberEnd(b, i) {
  let j = i;
  for (;;) {
    const c = b[j];
    // digits, '-', '+', '.', 'e', 'E'
    if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69) j++;
    else return j;
  }
}

/** The sample value whose text starts at b[i] and ends at the next quote. */
function value(b, i) {
  const c = b[i];
  // NaN, +Inf, -Inf, Inf: Go's spellings, as parseValue reads them.
  if (c === 78 || c === 43 || c === 73 || (c === 45 && b[i + 1] === 73)) {
    END = b.indexOf(34, i);
    if (END < 0) throw new Shape();
    return parseValue(text(b, i, END));
  }
  const x = decimal(b, i, false);
  if (b[END] === 34) return x;
  // Something else inside the quotes: the general path decides.
  END = b.indexOf(34, i);
  if (END < 0) throw new Shape();
  return general(b, i, END);
}

/**
 * The number whose text starts at b[i], read in one pass up to the first
 * byte that is not part of it (END): digits with an optional sign and
 * point by exact integer arithmetic when that rounds correctly, otherwise
 * (exponents, more than 15 significant digits) by Number. `json` holds it
 * to JSON's number grammar (timestamps are JSON numbers; values are
 * strings that parseFloat reads).
 */
function decimal(b, i, json) {
  let k = i;
  const neg = b[k] === 45;
  if (neg) k++;
  const first = k;
  let m = 0;
  let significant = 0;
  let point = -1;
  for (;; k++) {
    const c = b[k];
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m !== 0) significant++;
    } else if (c === 46 && point < 0) {
      point = k;
    } else {
      break;
    }
  }
  const c = b[k];
  if (c === 101 || c === 69 || c === 43 || c === 45 || c === 46) {
    // An exponent (or a stray sign or point).
    END = numberEnd(b, k);
    return general(b, i, END);
  }
  END = k;
  const intDigits = (point < 0 ? k : point) - first;
  if (point === k - 1 || (point >= 0 && intDigits === 0 && json) || k === first) return general(b, i, k);
  if (json && intDigits > 1 && b[first] === 48) throw new Shape();
  const scale = point < 0 ? 0 : k - point - 1;
  if (significant > 15 || scale > 22) return Number(ascii(b, i, k));
  const x = scale === 0 ? m : m / POW10[scale];
  return neg ? -x : x;
}

// Exponents and anything unusual: only the forms JSON allows, else the
// general path decides.
function general(b, i, j) {
  const s = text(b, i, j);
  if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(s)) throw new Shape();
  return Number(s);
}

/**
 * Aligns a matrix result on the step grid uPlot needs: [xs, ys...]. Each
 * series holds its samples as columns (`t` seconds, `v`), as
 * parseRangeAnswer reads them. The grid runs from the first to the last
 * step any series has a sample at (the axis still spans the whole range,
 * see `scales.x` below), so that a series with a finite value at every
 * step of it, the usual case, is drawn from a Float64Array; the others get
 * an array with null in the gaps (uPlot's gap marker), whose numbers V8
 * boxes one by one.
 */
export function alignMatrix(result, startMs, endMs, stepSec) {
  const start = startMs / 1000;
  const steps = Math.floor((endMs / 1000 - start) / stepSec + 1e-9) + 1;
  const at = (s) => Math.round((s - start) / stepSec);
  let lo = steps;
  let hi = -1;
  for (const { t } of result) {
    if (t.length === 0) continue;
    lo = Math.min(lo, Math.max(0, at(t[0])));
    hi = Math.max(hi, Math.min(steps - 1, at(t[t.length - 1])));
  }
  if (hi < lo) return [new Float64Array(0), result.map(() => [])];
  const n = hi - lo + 1;
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + (lo + i) * stepSec;
  const ys = result.map(({ t, v }) => {
    if (t.length === n && onGrid(t, v, at, lo)) return v;
    const col = new Array(n).fill(null);
    for (let k = 0; k < t.length; k++) {
      const i = at(t[k]) - lo;
      if (i < 0 || i >= n) continue;
      col[i] = Number.isFinite(v[k]) ? v[k] : null;
    }
    return col;
  });
  return [xs, ys];
}

function onGrid(t, v, at, lo) {
  for (let k = 0; k < t.length; k++) if (at(t[k]) !== lo + k || !Number.isFinite(v[k])) return false;
  return true;
}
