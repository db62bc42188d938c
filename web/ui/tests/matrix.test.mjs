// The graph's column reader (src/matrix.js) against JSON.parse: for random
// range answers in the shape Strata writes, and for answers that leave that
// shape, the columns must be exactly what the general path gives.
//
//   node --test web/ui/tests/matrix.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RangeAnswerReader, alignMatrix, columnsOf, parseRangeAnswer, readRangeAnswer } from '../src/matrix.js';

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Values as Go's strconv formats them, plus the specials and the forms a
// hand-written decimal parser gets wrong (17 digits, exponents, -0, long
// fractions, integers beyond 2^53).
function valueText(r) {
  const k = Math.floor(r() * 14);
  switch (k) {
    case 0:
      return 'NaN';
    case 1:
      return '+Inf';
    case 2:
      return '-Inf';
    case 3:
      return String((r() - 0.5) * 10 ** Math.floor(r() * 40 - 20)); // exponents either way
    case 4:
      return '-0';
    case 5:
      return String(Math.floor(r() * 2 ** 60));
    case 6:
      return `0.${'0'.repeat(Math.floor(r() * 25))}${Math.floor(r() * 1000)}`;
    case 7:
      return String(r()); // 16-17 significant digits
    case 8:
      return String(Math.round(r() * 1e6) / 100);
    case 9:
      return String(-Math.round(r() * 1e9) / 1e4);
    default:
      return String(Math.round((r() - 0.3) * 1e5) / 10 ** Math.floor(r() * 6));
  }
}

function answer(r, { series = 20, points = 30 } = {}) {
  const result = [];
  for (let i = 0; i < series; i++) {
    const values = [];
    let t = 1_700_000_000 + Math.floor(r() * 1000);
    for (let p = 0; p < Math.floor(r() * points); p++) {
      // Whole seconds, milliseconds and (as a step of 0.1 s gives) fractions.
      t += [15, 0.001, 0.1, 2.5][Math.floor(r() * 4)];
      values.push([Math.round(t * 1000) / 1000, valueText(r)]);
    }
    const metric = { __name__: 'm', i: String(i) };
    if (r() < 0.3) metric.tricky = 'a"b}c{\\d\n\u00e9\u{1F600}';
    if (r() < 0.1) delete metric.__name__;
    result.push({ metric, values });
  }
  const body = { status: 'success', data: { resultType: 'matrix', result } };
  if (r() < 0.3) body.warnings = ['w "1"'];
  if (r() < 0.3) body.infos = ['i'];
  return JSON.stringify(body);
}

function same(fast, slow) {
  assert.equal(fast.status, slow.status);
  assert.deepEqual(fast.warnings, slow.warnings);
  assert.deepEqual(fast.infos, slow.infos);
  if (!slow.data) return assert.deepEqual(fast, slow);
  assert.equal(fast.data.result.length, slow.data.result.length);
  fast.data.result.forEach((s, i) => {
    const o = slow.data.result[i];
    assert.deepEqual(s.metric, o.metric);
    assert.deepEqual(s.histograms, o.histograms);
    assert.equal(s.t.length, o.t.length);
    for (let k = 0; k < s.t.length; k++) {
      // Object.is: NaN equals NaN, -0 differs from 0.
      assert.ok(Object.is(s.t[k], o.t[k]), `series ${i} sample ${k}: t ${s.t[k]} vs ${o.t[k]}`);
      assert.ok(Object.is(s.v[k], o.v[k]), `series ${i} sample ${k}: v ${s.v[k]} vs ${o.v[k]}`);
    }
  });
}

test('random matrix answers read as JSON.parse reads them', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const text = answer(rng(seed));
    const reader = new RangeAnswerReader();
    reader.push(new TextEncoder().encode(text));
    same(reader.finish(), columnsOf(JSON.parse(text)));
    assert.ok(!reader.general, `seed ${seed}: Strata's shape took the general path`);
  }
});

test('every decimal Go can write for a float64 reads exactly', () => {
  const r = rng(7);
  const values = [];
  for (let i = 0; i < 20000; i++) {
    const bits = new Float64Array(new BigUint64Array([BigInt(Math.floor(r() * 2 ** 32)) << 32n | BigInt(Math.floor(r() * 2 ** 32))]).buffer)[0];
    if (Number.isFinite(bits)) values.push([1_700_000_000 + i, String(bits)]);
  }
  const text = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values }] } });
  same(parseRangeAnswer(text), columnsOf(JSON.parse(text)));
});

test('answers of another shape take the general path, with its result or its error', () => {
  const cases = [
    '{"status":"error","errorType":"bad_data","error":"parse error"}',
    '{"status":"success","data":{"resultType":"matrix","result":[]}}',
    '{"status":"success","data":{"resultType":"matrix","result":[]},"warnings":["x"]}',
    // Key order other than Strata's, whitespace, histogram samples.
    '{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"2"]],"metric":{}}]}}',
    '{"status":"success","data":{"resultType":"matrix","result":[ {"metric":{},"values":[[1,"2"]]}]}}',
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"]],"histograms":[[2,{"count":"1","sum":"1","buckets":[]}]]}]}}',
    // Numbers and values the fast path must not read on its own.
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e3,"1.5e-7"],[1.5,"0x10"],[2,"  3"],[3,".5"],[4,"5."],[5,""]]}]}}',
  ];
  for (const text of cases) same(parseRangeAnswer(text), columnsOf(JSON.parse(text)));
  for (const text of cases.slice(3)) {
    const reader = new RangeAnswerReader();
    reader.push(new TextEncoder().encode(text));
    reader.finish();
    assert.ok(reader.general, `${text} must take the general path`);
  }
  // Bytes that are not UTF-8 in a label: read as res.json() reads them.
  const bad = new TextEncoder().encode('{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"XY"},"values":[[1,"2"]]}]}}');
  bad[bad.indexOf(88)] = 0xff;
  const reader = new RangeAnswerReader();
  reader.push(bad);
  same(reader.finish(), columnsOf(JSON.parse(new TextDecoder().decode(bad))));
  const broken = [
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[01,"2"]]}]}}',
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"]]}]}',
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b},"values":[[1,"2"]]}]}}',
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[-,"2"]]}]}}',
  ];
  for (const text of broken) assert.throws(() => parseRangeAnswer(text), SyntaxError, text);
});

test('an answer read in pieces, split anywhere, reads as the whole text does', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const text = answer(r, { series: 8, points: 12 });
    const bytes = new TextEncoder().encode(text);
    const reader = new RangeAnswerReader();
    for (let at = 0; at < bytes.length; ) {
      // Mostly small pieces, so that splits land inside numbers, labels,
      // characters, escapes and the envelope.
      const n = 1 + Math.floor(r() * (r() < 0.8 ? 8 : 400));
      reader.push(bytes.subarray(at, at + n));
      at += n;
    }
    same(reader.finish(), columnsOf(JSON.parse(text)));
    assert.ok(!reader.general, `seed ${seed}: a split answer took the general path`);
  }
});

test('a streamed response is read as it arrives', async () => {
  const text = answer(rng(99), { series: 50, points: 200 });
  const bytes = new TextEncoder().encode(text);
  let sent = 0;
  // Chunks that split multi-byte characters too.
  const body = new ReadableStream({
    pull(c) {
      if (sent >= bytes.length) return c.close();
      c.enqueue(bytes.slice(sent, sent + 997));
      sent += 997;
    },
  });
  same(await readRangeAnswer(new Response(body)), columnsOf(JSON.parse(text)));
});

test('alignMatrix puts every finite sample at its step and null in the gaps', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    const step = [1, 10, 15, 0.5][Math.floor(r() * 4)];
    const steps = 1 + Math.floor(r() * 60);
    const start = 1_700_000_000;
    const result = Array.from({ length: 1 + Math.floor(r() * 6) }, () => {
      // Dense, late-starting, early-ending or holed, with NaN and ±Inf now and then.
      const from = r() < 0.5 ? 0 : Math.floor(r() * steps);
      const to = r() < 0.5 ? steps - 1 : from + Math.floor(r() * (steps - from));
      const t = [];
      const v = [];
      for (let i = from; i <= to; i++) {
        if (r() < 0.15) continue;
        t.push(start + i * step);
        v.push(r() < 0.05 ? [NaN, Infinity, -Infinity][Math.floor(r() * 3)] : Math.round(r() * 1000) / 10);
      }
      return { metric: {}, t: Float64Array.from(t), v: Float64Array.from(v) };
    });
    const [xs, ys] = alignMatrix(result, start * 1000, (start + (steps - 1) * step) * 1000, step);
    // The oracle: the full grid, a value at each step where a series has a
    // finite one, null elsewhere.
    const full = result.map(({ t, v }) => {
      const col = new Array(steps).fill(null);
      t.forEach((x, k) => {
        if (Number.isFinite(v[k])) col[Math.round((x - start) / step)] = v[k];
      });
      return col;
    });
    const lo = xs.length ? Math.round((xs[0] - start) / step) : 0;
    for (let i = 0; i < xs.length; i++) assert.equal(xs[i], start + (lo + i) * step);
    full.forEach((col, si) => {
      for (let i = 0; i < steps; i++) {
        const got = i >= lo && i < lo + xs.length ? ys[si][i - lo] : null;
        assert.equal(got ?? null, col[i], `seed ${seed} series ${si} step ${i}`);
      }
    });
    // Steps outside the grid hold no sample of any series.
    const hasSample = (i) => result.some(({ t }) => t.some((x) => Math.round((x - start) / step) === i));
    if (xs.length) assert.ok(hasSample(lo) && hasSample(lo + xs.length - 1), `seed ${seed}: the grid is trimmed to the samples`);
  }
});
