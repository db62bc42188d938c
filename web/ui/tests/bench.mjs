// Browser benchmark of the web UI, side by side with Prometheus' own UI on
// the same data. Not part of the test command: run it by hand on a quiet
// machine (it refuses when the 1-minute load is 1.5 or more, unless
// BENCH_FORCE=1).
//
//   STRATA_BIN=target/release/strata node web/ui/tests/bench.mjs
//   (PROMETHEUS_BIN defaults to /usr/bin/prometheus, Debian's 2.42, whose
//   UI is the classic one at /classic/graph; without it only Strata runs.)
//
// Both servers get the same 500 series × 720 points (10 s apart, the last
// 2 h) by remote write, in time order. Then headless Chromium (Debian's,
// through playwright-core) measures, each the median of RUNS:
//
// - page load to interactive: navigation start → the expression editor is
//   in the page (CodeMirror's .cm-content for Strata; the classic UI's
//   textarea, which its script renders), cold (new browser context) and
//   warm (same context, cached assets);
// - graph: the 500 × 720 range query opened by URL; time from the
//   query_range response's last byte (resource timing) to the first frame
//   after the plot and its 500 legend entries are in the page, and from
//   the request to that frame (the UI reads the answer as it arrives, so
//   the first figure alone would hide reading time moved before the last
//   byte);
// - hover: a mousemove over the plot → the next frame after its handlers
//   ran (the hover box updated), over HOVERS positions;
// - what a cold load transfers: script and stylesheet bytes as sent
//   (compressed), and how many requests.
//
// BENCH_SERVE_ONLY=1 loads the data, prints the graph URLs and keeps the
// servers up for 10 minutes (for profiling by hand), measuring nothing.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.STRATA_BIN;
const PROM = process.env.PROMETHEUS_BIN || '/usr/bin/prometheus';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUNS = Number(process.env.RUNS || 5);
const HOVERS = Number(process.env.HOVERS || 30);
const SERIES = 500;
const POINTS = 720;
const STEP_S = 10;

if (!BIN || !existsSync(BIN)) {
  console.error(`STRATA_BIN must name the strata binary (got ${JSON.stringify(BIN)})`);
  process.exit(2);
}
const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
if (load1 >= 1.5 && process.env.BENCH_FORCE !== '1') {
  console.error(`load average ${load1} ≥ 1.5: the figures would measure the other work; wait, or set BENCH_FORCE=1`);
  process.exit(2);
}
const withProm = existsSync(PROM);
if (!withProm) console.error(`no Prometheus at ${PROM}: measuring Strata only`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

// --- remote write, encoded here: protobuf by hand, snappy as literals only
// (valid snappy that any decoder reads; size does not matter on loopback).
function varint(n, out) {
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
}
function field(tag, bytes, out) {
  out.push(tag);
  varint(bytes.length, out);
  for (const b of bytes) out.push(b);
}
function encodeWrite(series) {
  const out = [];
  for (const { labels, samples } of series) {
    const ts = [];
    for (const [k, v] of labels) {
      const l = [];
      field(0x0a, Buffer.from(k), l);
      field(0x12, Buffer.from(v), l);
      field(0x0a, l, ts);
    }
    for (const [t, v] of samples) {
      const s = [0x09];
      const f = Buffer.alloc(8);
      f.writeDoubleLE(v);
      s.push(...f);
      s.push(0x10);
      varint(t, s);
      field(0x12, s, ts);
    }
    field(0x0a, ts, out);
  }
  return Buffer.from(out);
}
function snappyLiterals(buf) {
  const out = [];
  varint(buf.length, out);
  for (let i = 0; i < buf.length; i += 65536) {
    const chunk = buf.subarray(i, i + 65536);
    const n = chunk.length - 1;
    if (n < 60) out.push(n << 2);
    else if (n < 256) out.push(60 << 2, n);
    else out.push(61 << 2, n & 255, n >> 8);
    out.push(...chunk);
  }
  return Buffer.from(out);
}

// The same deterministic data for both servers: a random walk per series.
const endS = Math.floor(Date.now() / 60000) * 60;
const startS = endS - (POINTS - 1) * STEP_S;
function dataset() {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: SERIES }, (_, i) => {
    let v = 100 + rnd() * 900;
    const samples = [];
    for (let p = 0; p < POINTS; p++) {
      v = Math.max(0, v + (rnd() - 0.5) * 20);
      samples.push([(startS + p * STEP_S) * 1000, Math.round(v * 100) / 100]);
    }
    return {
      labels: [
        ['__name__', 'bench_ui_series'],
        ['instance', `host-${String(i).padStart(3, '0')}:9100`],
        ['job', 'bench'],
        ['zone', `zone-${i % 5}`],
      ],
      samples,
    };
  });
}

async function push(base, data) {
  // 60 time steps per request, all series advancing together.
  for (let p = 0; p < POINTS; p += 60) {
    const body = snappyLiterals(encodeWrite(data.map((s) => ({ labels: s.labels, samples: s.samples.slice(p, p + 60) }))));
    const r = await fetch(`${base}/api/v1/write`, {
      method: 'POST',
      body,
      headers: { 'Content-Encoding': 'snappy', 'Content-Type': 'application/x-protobuf', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
    });
    if (r.status >= 300) throw new Error(`${base}: remote write answered ${r.status}: ${await r.text()}`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'strata-ui-bench-'));
writeFileSync(join(dir, 'empty.yml'), 'global:\n  scrape_interval: 1m\nscrape_configs: []\n');
const procs = [];
async function start(name, cmd, args, base) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  p.stderr.on('data', (d) => (log += d));
  procs.push(p);
  const until = Date.now() + 60000;
  while (Date.now() < until) {
    if (p.exitCode !== null) throw new Error(`${name} exited: ${log.slice(-2000)}`);
    try {
      if ((await fetch(`${base}/-/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${name} not ready in 60 s`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const pad = (n) => String(n).padStart(2, '0');
const utc = (s, seconds = true) => {
  const d = new Date(s * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${seconds ? `:${pad(d.getUTCSeconds())}` : ''}`;
};

// What "editor ready", "drawn" and "hover box" are in each UI.
const UIS = {
  strata: {
    name: 'Strata',
    queryPage: (base) => `${base}/query`,
    graphPage: (base) =>
      `${base}/query?${new URLSearchParams({ 'g0.expr': 'bench_ui_series', 'g0.tab': 'graph', 'g0.range_input': '2h', 'g0.end_input': utc(endS), 'g0.step_input': String(STEP_S) })}`,
    editor: '.cm-content',
    drawn: () => document.querySelector('.graph canvas') && document.querySelectorAll('.legend-item').length >= 500,
    plot: '.u-over',
    tip: '[data-testid=graph-tip]',
  },
  prometheus: {
    name: 'Prometheus 2.42 (classic UI)',
    queryPage: (base) => `${base}/classic/graph`,
    graphPage: (base) =>
      `${base}/classic/graph?${new URLSearchParams({ 'g0.expr': 'bench_ui_series', 'g0.tab': '0', 'g0.range_input': '2h', 'g0.end_input': utc(endS, false), 'g0.step_input': String(STEP_S) })}`,
    editor: 'textarea.expression_input',
    drawn: () => document.querySelectorAll('.graph_area svg path').length >= 500 && document.querySelectorAll('.legend li').length >= 500,
    plot: '.graph_area .graph',
    tip: '.graph_area .detail .item',
  },
};

// Runs in the page before its scripts: marks when the editor appears and
// when the graph is drawn (at the first frame after, plus a task, so the
// frame has been produced).
function marker({ editor, drawn }) {
  window.__marks = {};
  const isDrawn = new Function(`return (${drawn})()`);
  const obs = new MutationObserver(() => {
    const m = window.__marks;
    if (m.editor === undefined && document.querySelector(editor)) m.editor = performance.now();
    if (m.drawnSeen === undefined && isDrawn()) {
      m.drawnSeen = performance.now();
      requestAnimationFrame(() => setTimeout(() => (m.drawn = performance.now())));
    }
  });
  obs.observe(document, { subtree: true, childList: true });
}

async function measure(browser, ui, base) {
  const out = { cold: [], warm: [], graph: [], queryMs: [], total: [], hover: [], bytes: 0, requests: 0, jsonBytes: 0 };
  const init = { editor: ui.editor, drawn: ui.drawn.toString() };
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript(marker, init);
    const page = await ctx.newPage();
    await page.goto(ui.queryPage(base));
    await page.waitForFunction(() => window.__marks.editor !== undefined, null, { timeout: 30000 });
    out.cold.push(await page.evaluate(() => window.__marks.editor));
    if (i === 0) {
      const res = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({ n: e.name, t: e.initiatorType, size: e.transferSize })));
      const assets = res.filter((r) => r.t === 'script' || r.t === 'link' || /\.(js|css)(\?|$)/.test(r.n));
      out.bytes = assets.reduce((a, r) => a + r.size, 0);
      out.requests = res.length + 1;
    }
    await page.goto(ui.queryPage(base));
    await page.waitForFunction(() => window.__marks.editor !== undefined, null, { timeout: 30000 });
    out.warm.push(await page.evaluate(() => window.__marks.editor));

    await page.goto(ui.graphPage(base));
    await page.waitForFunction(() => window.__marks.drawn !== undefined, null, { timeout: 120000 });
    const g = await page.evaluate(() => {
      const q = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/query_range')).pop();
      return { drawn: window.__marks.drawn, end: q.responseEnd, start: q.startTime, size: q.encodedBodySize || q.transferSize };
    });
    out.graph.push(g.drawn - g.end);
    out.queryMs.push(g.end - g.start);
    out.total.push(g.drawn - g.start);
    out.jsonBytes = g.size;

    if (i === 0) {
      const box = await page.locator(ui.plot).first().boundingBox();
      const times = await page.evaluate(
        async ({ box, n, tipSel }) => {
          const ts = [];
          let shown = 0;
          for (let k = 0; k < n; k++) {
            const x = box.x + 5 + ((box.width - 10) * (k + 0.5)) / n;
            const y = box.y + box.height * (0.2 + 0.6 * ((k * 7) % n) / n);
            const el = document.elementFromPoint(x, y);
            const t0 = performance.now();
            el.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true, view: window }));
            await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
            ts.push(performance.now() - t0);
            const tip = document.querySelector(tipSel);
            if (tip && !tip.hidden && tip.offsetParent !== null && tip.textContent.trim() !== '') shown++;
          }
          return { ts, shown };
        },
        { box, n: HOVERS, tipSel: ui.tip },
      );
      out.hover.push(...times.ts);
      out.tipShown = times.shown;
    }
    await ctx.close();
  }
  return out;
}

let failed = false;
try {
  const sPort = await freePort();
  const strata = `http://127.0.0.1:${sPort}`;
  await start('strata', BIN, ['run', '--config', join(dir, 'empty.yml'), '--data-dir', join(dir, 'strata'), '--listen', `127.0.0.1:${sPort}`, '--log.level', 'warn'], strata);
  let prom = null;
  if (withProm) {
    const pPort = await freePort();
    prom = `http://127.0.0.1:${pPort}`;
    await start(
      'prometheus',
      PROM,
      ['--config.file', join(dir, 'empty.yml'), '--storage.tsdb.path', join(dir, 'prom'), '--web.listen-address', `127.0.0.1:${pPort}`, '--web.enable-remote-write-receiver', '--log.level', 'warn'],
      prom,
    );
  }
  const data = dataset();
  await push(strata, data);
  if (prom) await push(prom, data);
  for (const base of [strata, prom].filter(Boolean)) {
    const r = await (await fetch(`${base}/api/v1/query_range?${new URLSearchParams({ query: 'bench_ui_series', start: String(endS - 7200), end: String(endS), step: String(STEP_S) })}`)).json();
    const points = r.data.result.reduce((a, s) => a + s.values.length, 0);
    if (r.data.result.length !== SERIES || points !== SERIES * POINTS) throw new Error(`${base}: ${r.data.result.length} series, ${points} points; want ${SERIES} × ${POINTS}`);
  }
  console.error(`data: ${SERIES} series × ${POINTS} points in each server; load ${load1}`);
  if (process.env.BENCH_SERVE_ONLY === '1') {
    // For profiling by hand: the servers stay up for 10 minutes.
    console.log(`strata graph: ${UIS.strata.graphPage(strata)}`);
    if (prom) console.log(`prometheus graph: ${UIS.prometheus.graphPage(prom)}`);
    await sleep(600000);
  }

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const results = [[UIS.strata, await measure(browser, UIS.strata, strata)]];
  if (prom) results.push([UIS.prometheus, await measure(browser, UIS.prometheus, prom)]);
  await browser.close();
  // A hover that showed nothing measured no hover work.
  for (const [u, m] of results) if (m.tipShown < HOVERS / 2) throw new Error(`${u.name}: only ${m.tipShown} of ${HOVERS} moves showed a value`);

  const ms = (xs) => `${median(xs).toFixed(0)} ms`;
  const rows = [
    ['page load → editor ready, cold (median)', (m) => ms(m.cold)],
    ['page load → editor ready, warm (median)', (m) => ms(m.warm)],
    [`graph ${SERIES} × ${POINTS}: data received → drawn (median)`, (m) => ms(m.graph)],
    ['  (query_range request → last byte, for reference)', (m) => ms(m.queryMs)],
    ['  (query_range request → drawn, the whole wait)', (m) => ms(m.total)],
    ['  (query_range answer as sent)', (m) => `${(m.jsonBytes / 1024).toFixed(0)} KiB`],
    [`hover: mousemove → next frame (median of ${HOVERS})`, (m) => `${median(m.hover).toFixed(1)} ms`],
    ['hover: slowest', (m) => `${Math.max(...m.hover).toFixed(1)} ms`],
    ['hover: moves that showed a value', (m) => `${m.tipShown} of ${HOVERS}`],
    ['cold load: JS + CSS transferred', (m) => `${(m.bytes / 1024).toFixed(1)} KiB`],
    ['cold load: requests', (m) => String(m.requests)],
  ];
  console.log(`| measure (${RUNS} runs) | ${results.map(([u]) => u.name).join(' | ')} |`);
  console.log(`|---|${results.map(() => '---:').join('|')}|`);
  for (const [label, f] of rows) console.log(`| ${label} | ${results.map(([, m]) => f(m)).join(' | ')} |`);
} catch (e) {
  failed = true;
  console.error(`bench failed: ${e.stack || e}`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await sleep(1500);
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
