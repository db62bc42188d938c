// End-to-end test of the web UI in a real browser against a real server.
//
//   STRATA_BIN=target/debug/strata node web/ui/tests/e2e.mjs
//
// Starts `strata run` on a free loopback port with a temp data dir, a
// config that scrapes itself, a target that is down and a fixture target
// (tests/fixture.mjs: kube-state-metrics, cAdvisor and kafka_exporter
// shapes) every second, a small rule file and the shipped `strata`,
// `kubernetes-triage` and `kafka` rule packs; then drives headless
// Chromium (Debian's, through playwright-core: no browser download) through
// every page and checks what it shows against the HTTP API's answers.
// Screenshots go to $ARTEFACTS (default web/ui/test-artefacts/).
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import * as fx from './fixture.mjs';
// The UI's own rendering of a series, so rows can be matched to API series.
import { formatSeries } from '../src/series.js';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.STRATA_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTEFACTS = resolve(process.env.ARTEFACTS || join(here, '..', 'test-artefacts'));

if (!BIN || !existsSync(BIN)) {
  console.error(`STRATA_BIN must name the strata binary (got ${JSON.stringify(BIN)})`);
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
  process.exit(2);
}
mkdirSync(ARTEFACTS, { recursive: true });
rmSync(join(ARTEFACTS, 'failure.png'), { force: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** True when the server serves this checkout's dist/index.html. */
async function servesBundle(upstream, distDir) {
  const res = await fetch(`${upstream}/query`, { headers: { 'Accept-Encoding': 'identity' } });
  return (await res.text()) === readFileSync(join(distDir, 'index.html'), 'utf8');
}

const fixture = await fx.startFixture();
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const DIST = resolve(here, '..', 'dist');
const dir = mkdtempSync(join(tmpdir(), 'strata-ui-e2e-'));
writeFileSync(
  join(dir, 'prometheus.yml'),
  `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: strata
    static_configs:
      - targets: ['127.0.0.1:${port}']
  - job_name: nowhere
    static_configs:
      - targets: ['127.0.0.1:1']
        labels: {team: e2e}
  - job_name: fixture
    static_configs:
      - targets: ['127.0.0.1:${fixture.port}']
`,
);
writeFileSync(
  join(dir, 'rules.yml'),
  `groups:
  - name: e2e
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: E2ETargetDown
        expr: up == 0
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.instance }} is down"}
      - alert: E2EAlwaysPending
        expr: vector(1)
        for: 1h
`,
);

// A second server for the prefix and the tenant: reached under /strata
// (--web.external-url with a path), and multi-tenant, so every API call
// needs X-Scope-OrgID. It scrapes itself (tenant "anonymous") at the
// prefixed /metrics.
const portB = await freePort();
const baseB = `http://127.0.0.1:${portB}/strata`;
writeFileSync(
  join(dir, 'prefixed.yml'),
  `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: strata
    metrics_path: /strata/metrics
    static_configs:
      - targets: ['127.0.0.1:${portB}']
`,
);
const serverB = spawn(
  BIN,
  ['run', '--config', join(dir, 'prefixed.yml'), '--data-dir', join(dir, 'data-b'), '--listen', `127.0.0.1:${portB}`, '--web.external-url', `${baseB}/`, '--multi-tenant'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let serverBLog = '';
serverB.stdout.on('data', (d) => (serverBLog += d));
serverB.stderr.on('data', (d) => (serverBLog += d));
let serverBExited = false;
serverB.on('exit', () => (serverBExited = true));

const server = spawn(
  BIN,
  ['run', '--config', join(dir, 'prometheus.yml'), '--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${port}`, '--rule-pack', 'strata,kubernetes-triage,kafka'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let serverLog = '';
server.stdout.on('data', (d) => (serverLog += d));
server.stderr.on('data', (d) => (serverLog += d));
let serverExited = false;
server.on('exit', () => (serverExited = true));
// A hung browser must not hang the test command: give up after a bound.
const LIMIT_MS = Number(process.env.E2E_TIMEOUT_MS || 360000);
setTimeout(() => {
  console.log(`not ok - e2e took longer than ${LIMIT_MS} ms`);
  console.log(`0 passed, 1 failed`);
  server.kill('SIGKILL');
  serverB.kill('SIGKILL');
  process.exit(1);
}, LIMIT_MS).unref();

async function api(path, params = {}) {
  const res = await fetch(`${base}/api/v1/${path}?${new URLSearchParams(params)}`);
  const body = await res.json();
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
}

async function waitFor(what, fn, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    if (serverExited) throw new Error(`strata exited while waiting for ${what}:\n${serverLog}`);
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

function pad(n) {
  return String(n).padStart(2, '0');
}
function utc(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

let passed = 0;
let failed = 0;
const check = (name, cond, detail = '') => {
  if (cond) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}${detail ? `: ${detail}` : ''}`);
  }
};

let browser;
let page;
// The page being driven, for the failure screenshot.
let current;
try {
  await waitFor('readiness', async () => (await fetch(`${base}/-/ready`)).ok);
  // The binary embeds web/ui/dist: a different bundle means it was built
  // from another tree, and this test would not test this checkout's UI.
  if (!(await servesBundle(base, DIST))) {
    throw new Error(`${BIN} serves another UI bundle than web/ui/dist: rebuild it (cargo build -p strata) from this checkout`);
  }
  // Enough scrapes for a few graph points, both targets seen, and the
  // rules evaluated at least once with the down target.
  await waitFor('self-scrape data', async () => (await api('query', { query: 'count_over_time(up{job="strata"}[1m])' })).result[0]?.value[1] >= 4);
  await waitFor('the down target seen by rules', async () => (await api('alerts')).alerts.some((a) => a.labels.alertname === 'E2ETargetDown' && a.state === 'firing'));

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  current = page;
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // A failed request is logged by the browser as a console error; those
  // are judged by their response instead, so the one deliberate bad query
  // (a 400 from /api/v1/query) is not counted and any other failure is.
  let badQueryExpected = false;
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && pageErrors.push(m.text()));
  page.on('response', (r) => {
    if (r.status() < 400) return;
    if (badQueryExpected && r.status() === 400 && new URL(r.url()).pathname === '/api/v1/query') return;
    pageErrors.push(`HTTP ${r.status()} from ${r.request().method()} ${r.url()}`);
  });
  const shot = (name, p = page) => p.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });

  // --- / redirects to /query
  await page.goto(`${base}/`);
  check('/ redirects to /query', new URL(page.url()).pathname === '/query', page.url());

  // --- autocomplete offers a metric name the server has
  const names = await api('label/__name__/values');
  const target = names.find((n) => n.startsWith('strata_ingest_samples')) || names.find((n) => n.startsWith('strata_'));
  const prefix = target.slice(0, 13);
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await page.keyboard.type(prefix, { delay: 30 });
  const option = page.locator('.cm-tooltip-autocomplete li', { hasText: target }).first();
  await option.waitFor({ timeout: 10000 });
  check('autocomplete offers a metric name from the API', await option.isVisible(), target);
  await shot('query-autocomplete');
  await option.click();
  const picked = (await editor.innerText()).trim();
  check('picking the completion fills the editor', picked === target, picked);

  // --- Enter runs it; the table matches the API at the same time
  const evalAt = Date.now() - 3000;
  const timeInput = page.getByLabel('Evaluation time (UTC)');
  await timeInput.fill(utc(evalAt));
  await timeInput.press('Enter');
  await editor.click();
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=result-table] tr').first().waitFor({ timeout: 10000 });
  const rows = await page.locator('[data-testid=result-table] tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));
  const expected = await api('query', { query: target, time: String(Math.floor(evalAt / 1000)) });
  const want = new Map(expected.result.map((s) => [formatSeries(s.metric), s.value[1]]));
  const got = new Map(rows.map(([s, v]) => [s, v]));
  check(
    'table rows equal the API answer',
    want.size > 0 && want.size === got.size && [...want].every(([k, v]) => got.get(k) === v),
    `want ${JSON.stringify([...want])} got ${JSON.stringify([...got])}`,
  );
  await shot('query-table');

  // --- Graph tab: as many plotted series as the API's range query returns.
  // Back to "now" first: the server is seconds old, and a graph ending at
  // the table's evaluation time could have its last step before the first
  // scrape.
  await page.getByRole('button', { name: 'now', exact: true }).click();
  const cleared = await page
    .waitForFunction(() => document.querySelector('input[aria-label="Evaluation time (UTC)"]')?.value === '', null, { timeout: 3000 })
    .then(() => true)
    .catch(() => false);
  check('"now" clears the evaluation time', cleared);
  await page.getByRole('tab', { name: 'Graph' }).click();
  await page.locator('.graph canvas').first().waitFor({ timeout: 10000 });
  const legend = page.locator('.legend-item');
  const end = Date.now();
  const ranged = await api('query_range', { query: target, start: String(end / 1000 - 3600), end: String(end / 1000), step: '14' });
  const plotted = await legend.count();
  const uplotSeries = await page.locator('.u-wrap').count();
  check('graph plots as many series as the API returns', plotted === ranged.result.length && plotted > 0 && uplotSeries === 1, `legend ${plotted}, API ${ranged.result.length}`);
  const stats = await page.locator('[data-testid=stats]').innerText();
  check('graph stats name the series count', stats.includes(`Result series: ${ranged.result.length}`), stats);

  // Hover shows a value box.
  const over = page.locator('.u-over').first();
  const box = await over.boundingBox();
  // The few seconds of data sit at the right edge of a 1h graph: scan
  // there, a bounded number of moves.
  let tipShown = false;
  for (let x = box.width - 1; x > box.width - 40 && !tipShown; x -= 4) {
    for (let y = 2; y < box.height && !tipShown; y += 20) {
      await page.mouse.move(box.x + x, box.y + y);
      tipShown = await page.locator('[data-testid=graph-tip]').isVisible();
    }
  }
  check('hovering the graph shows a value', tipShown);
  if (tipShown) {
    // The value box against the API: the same series at the same step,
    // read through the graph's own answer reader (src/matrix.js).
    const tipTime = await page.locator('.tip-time').innerText();
    const tipValue = await page.locator('.tip-value').innerText();
    const tipSeries = await page.locator('.tip-series').innerText();
    const at = Date.parse(tipTime.replace(' UTC', 'Z').replace(' ', 'T'));
    const inst = await api('query', { query: target, time: String(at / 1000) });
    const same = inst.result.find((s) => formatSeries(s.metric) === tipSeries);
    check('the hovered value is the API value of that series at that step', same !== undefined && String(Number(same.value[1])) === tipValue, `${tipSeries} at ${tipTime}: UI ${tipValue}, API ${same ? same.value[1] : 'no such series'}`);
  }
  await shot('query-graph');
  await page.mouse.move(0, 0);

  if (plotted > 1) {
    await legend.first().click();
    const off = await page.locator('.legend-item.off').count();
    check('clicking a legend entry isolates its series', off === plotted - 1, `${off} hidden of ${plotted}`);
    await legend.first().click();
    check('clicking it again shows all', (await page.locator('.legend-item.off').count()) === 0);
  }

  // --- The state is in the URL with Prometheus' parameters, and restores
  const url = new URL(page.url());
  check('URL holds g0.expr and g0.tab', url.searchParams.get('g0.expr') === target && url.searchParams.get('g0.tab') === 'graph', url.search);
  await page.reload();
  await page.locator('.legend-item').first().waitFor({ timeout: 10000 });
  check('reloading restores the graph panel', (await page.locator('.legend-item').count()) === ranged.result.length);

  // --- A Prometheus 2 link (as Alertmanager sends): /graph, tab=1 is the table
  await page.goto(`${base}/graph?g0.expr=${encodeURIComponent('up')}&g0.tab=1&g0.range_input=30m`);
  await page.locator('[data-testid=result-table] tr').first().waitFor({ timeout: 10000 });
  const upRows = await page.locator('[data-testid=result-table] tr').count();
  const upApi = await api('query', { query: 'up' });
  check('Prometheus 2 /graph link opens the table on /query', new URL(page.url()).pathname === '/query' && upRows === upApi.result.length, `${upRows} rows, API ${upApi.result.length}`);

  // --- Format button uses /api/v1/format_query (the expression comes in
  // by URL; typing is checked on its own below).
  const raw = 'sum(rate(up[5m]))by(job)';
  await page.goto(`${base}/query?g0.expr=${encodeURIComponent(raw)}&g0.tab=table`);
  await page.getByRole('button', { name: 'Format' }).click();
  const formatted = await api('format_query', { query: raw });
  await page.waitForFunction((f) => document.querySelector('.cm-content')?.innerText.trim() === f, formatted, { timeout: 5000 }).catch(() => {});
  check('Format rewrites the expression as the API formats it', (await page.locator('.cm-content').first().innerText()).trim() === formatted, formatted);

  // --- Errors are shown at the query
  badQueryExpected = true;
  await page.goto(`${base}/query?g0.expr=${encodeURIComponent('sum(up')}&g0.tab=table`);
  const err = page.getByTestId('query-error');
  await err.waitFor({ timeout: 5000 });
  const errText = await err.innerText();
  let apiErr = '';
  const bad = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: 'sum(up' })}`);
  apiErr = (await bad.json()).error;
  check('a bad query shows the API’s parse error', bad.status === 400 && errText.includes('bad_data') && errText.includes(apiErr), `${errText} vs ${apiErr}`);
  badQueryExpected = false;
  await shot('query-error');

  // --- Typing a long expression keystroke by keystroke (brackets
  // auto-closed and stepped over, completions popping up on the way) leaves
  // exactly the typed text, and Enter runs it.
  const long = 'sum by (job, result) (rate(strata_ingest_samples_total{job="strata"}[1m]))';
  await page.goto(`${base}/query`);
  await page.locator('.cm-content').first().click();
  await page.keyboard.type(long, { delay: 15 });
  await page.keyboard.press('Escape');
  const typed = (await page.locator('.cm-content').first().innerText()).trim();
  check('a long expression typed key by key stays as typed', typed === long, typed);
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=result-table] tr').first().waitFor({ timeout: 10000 });
  const longRows = await page.locator('[data-testid=result-table] tr').count();
  const longApi = await api('query', { query: long });
  check('the typed expression runs on Enter', longRows === longApi.result.length && longRows > 1, `${longRows} rows, API ${longApi.result.length}`);
  await page.waitForFunction((e) => new URLSearchParams(window.location.search).get('g0.expr') === e, long, { timeout: 5000 }).catch(() => {});
  check('the typed expression is in the URL', new URL(page.url()).searchParams.get('g0.expr') === long);
  await shot('query-typed');

  // --- Several panels
  await page.getByRole('button', { name: 'Add panel' }).click();
  check('Add panel adds a second panel', (await page.getByTestId('panel').count()) === 2);
  await page.goto(`${base}/query?g0.expr=up&g0.tab=table&g1.expr=job%3Aup%3Asum&g1.tab=table`);
  await page.getByTestId('panel').nth(1).locator('[data-testid=result-table] tr').first().waitFor({ timeout: 10000 });
  check('two panels from the URL both run', (await page.getByTestId('panel').count()) === 2);

  // --- Targets
  await page.goto(`${base}/targets`);
  await page.getByTestId('scrape-pool').first().waitFor();
  const poolText = await page.locator('main').innerText();
  const targets = await api('targets');
  const allTargetsShown = targets.activeTargets.every((t) => poolText.includes(t.scrapeUrl));
  check('targets page lists every active target', allTargetsShown);
  check('targets page shows health and the down target’s error', poolText.includes('UP') && poolText.includes('DOWN') && poolText.includes('Connection refused'));
  await shot('targets');

  // --- Service discovery
  await page.goto(`${base}/service-discovery`);
  await page.locator('.card').first().waitFor();
  check('service discovery shows discovered labels', (await page.locator('main').innerText()).includes('__address__="127.0.0.1:1"'));
  await shot('service-discovery');

  // --- Rules
  await page.goto(`${base}/rules`);
  await page.getByTestId('rule-group').first().waitFor();
  const rules = await api('rules');
  const groupsShown = await page.getByTestId('rule-group').count();
  const rulesText = await page.locator('main').innerText();
  check('rules page shows every group', groupsShown === rules.groups.length, `${groupsShown} vs ${rules.groups.length}`);
  check('rules page shows the recording rule and its health', rulesText.includes('job:up:sum') && rulesText.includes('OK'));
  const packGroups = rules.groups.filter((g) => g.file === 'rule-pack:strata');
  const missingRules = rules.groups.flatMap((g) => g.rules.map((r) => r.name)).filter((n) => !rulesText.includes(n));
  check('rules page shows the strata pack’s groups and every rule the API lists', packGroups.length > 0 && packGroups.every((g) => rulesText.includes(g.name)) && missingRules.length === 0, `pack groups ${packGroups.length}, missing ${missingRules.join(', ')}`);
  await shot('rules');

  // --- Alerts
  await page.goto(`${base}/alerts`);
  await page.getByTestId('alerts-firing').waitFor();
  const firing = await page.getByTestId('alerts-firing').innerText();
  const pending = await page.getByTestId('alerts-pending').innerText();
  check('alerts page shows the firing alert with its labels and annotation', firing.includes('E2ETargetDown') && firing.includes('instance="127.0.0.1:1"') && firing.includes('127.0.0.1:1 is down'), firing);
  check('alerts page shows the pending alert', pending.includes('E2EAlwaysPending'));
  // Judged on rules whose state is the same before and after reading the
  // page, so one changing state meanwhile cannot fail the check.
  const ruleKey = (r) => `${r.name}/${r.query}`;
  const alertStates = async () => new Map((await api('rules', { type: 'alert' })).groups.flatMap((g) => g.rules).map((r) => [ruleKey(r), r]));
  await page.reload();
  const before = await alertStates();
  await page.getByTestId('alerts-firing').waitFor();
  const sections = {};
  for (const st of ['firing', 'pending', 'inactive']) sections[st] = await page.getByTestId(`alerts-${st}`).innerText();
  const after = await alertStates();
  const alertRules = [...before.values()].filter((r) => after.get(ruleKey(r))?.state === r.state);
  const misplaced = [];
  for (const r of alertRules) {
    if (!sections[r.state].includes(r.name)) misplaced.push(`${r.name} (${r.state})`);
  }
  check('alerts page files every alerting rule under its API state', alertRules.length > 10 && misplaced.length === 0, misplaced.join(', '));
  await shot('alerts');

  // --- Status pages
  await page.goto(`${base}/status`);
  await page.getByTestId('buildinfo').waitFor();
  const build = await api('status/buildinfo');
  check('status page shows the build version', (await page.getByTestId('buildinfo').innerText()).includes(build.version));
  await shot('status');

  await page.goto(`${base}/tsdb-status`);
  await page.getByTestId('head-stats').waitFor();
  const tsdbText = await page.locator('main').innerText();
  check('TSDB status shows head stats and top metric names', tsdbText.includes('Number of series') && tsdbText.includes('__name__') && /strata_\w+/.test(tsdbText));
  await shot('tsdb-status');

  await page.goto(`${base}/flags`);
  await page.getByTestId('flags').waitFor();
  check('flags page lists the flags', (await page.getByTestId('flags').innerText()).includes('rule-pack'));
  await shot('flags');

  await page.goto(`${base}/config`);
  await page.getByTestId('config').waitFor();
  check('config page shows the loaded YAML', (await page.getByTestId('config').innerText()).includes('job_name: nowhere'));
  await shot('config');


  // --- Cardinality explorer: linked from TSDB status; the top list is
  // /api/v1/status/tsdb's, and each drill-down number is the API's answer
  // to the same aggregation at the page's evaluation time.
  await page.goto(`${base}/tsdb-status`);
  // Read before and after the page's own request: a series appearing
  // meanwhile cannot fail the comparison.
  const topBefore = await api('status/tsdb', { limit: '20' });
  await page.getByRole('link', { name: /Explore cardinality/ }).click();
  await page.getByTestId('top-metrics').waitFor();
  check('TSDB status links to /cardinality', new URL(page.url()).pathname === '/cardinality');
  const topRows = await page.locator('[data-testid=top-metrics] tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));
  const topAfter = await api('status/tsdb', { limit: '20' });
  const asList = (d) => JSON.stringify(d.seriesCountByMetricName.map((r) => [r.name, r.value.toLocaleString('en-US')]));
  const shown = JSON.stringify(topRows.map(([n, v]) => [n, v]));
  check('cardinality lists the top metric names of /api/v1/status/tsdb', topRows.length > 5 && (shown === asList(topBefore) || shown === asList(topAfter)), `${shown} vs ${asList(topAfter)}`);
  const limitText = await page.getByTestId('limit-series').innerText();
  const flagsNow = await api('status/flags');
  const headNow = [topBefore.headStats.numSeries, topAfter.headStats.numSeries].map((n) => n.toLocaleString('en-US'));
  check(
    'the limit card sets head series against limits.max-series-per-tenant',
    headNow.some((n) => limitText.startsWith(n)) && limitText.endsWith(Number(flagsNow['limits.max-series-per-tenant']).toLocaleString('en-US')),
    `${limitText} vs ${headNow} / ${flagsNow['limits.max-series-per-tenant']}`,
  );
  const topLabel = topAfter.labelValueCountByLabelName.find((r) => r.name !== '__name__');
  await page.waitForFunction(() => /series/.test(document.querySelector('[data-testid=top-label]')?.innerText || ''), null, { timeout: 10000 }).catch(() => {});
  check('the limit card names the label with the most distinct values', (await page.getByTestId('top-label').innerText()).startsWith(`${topLabel.name}:`), await page.getByTestId('top-label').innerText());

  // Drill into the metric with the most series: its label names.
  const metric = topRows[0][0];
  await page.locator('[data-testid=top-metrics] a', { hasText: metric }).first().click();
  await page.locator('[data-testid=metric-labels][data-done=true]').waitFor({ timeout: 20000 });
  check('choosing a metric puts it in the URL', new URL(page.url()).searchParams.get('metric') === metric, page.url());
  const at = await page.getByTestId('metric-labels').getAttribute('data-time');
  const labelRows = await page.locator('[data-testid=metric-labels] tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [tr.dataset.label, tr.querySelector('[data-testid=label-values]').innerText.trim(), tr.querySelector('[data-testid=label-series]').innerText.trim()]),
  );
  const one = async (q) => Number((await api('query', { query: q, time: at })).result[0]?.value[1] ?? 0).toLocaleString('en-US');
  const sel = (l) => `{__name__=${JSON.stringify(metric)},${l}!=""}`;
  const wrong = [];
  for (const [l, values, series] of labelRows) {
    const wantValues = await one(`count(count by (${l}) (${sel(l)}))`);
    const wantSeries = await one(`count(${sel(l)})`);
    if (values !== wantValues || series !== wantSeries) wrong.push(`${l}: ${values}/${series} vs ${wantValues}/${wantSeries}`);
  }
  const apiLabels = (await api('labels', { 'match[]': `{__name__=${JSON.stringify(metric)}}` })).filter((n) => n !== '__name__');
  check('the metric’s label names are the API’s', JSON.stringify(labelRows.map((r) => r[0]).sort()) === JSON.stringify(apiLabels.sort()), `${labelRows.map((r) => r[0])} vs ${apiLabels}`);
  check('distinct values and series per label equal /api/v1/query at the same time', labelRows.length > 0 && wrong.length === 0, wrong.join('; '));
  const metricTotal = await page.getByTestId('metric-series').innerText();
  check('the metric’s series count is count() of it', metricTotal === `${await one(`count({__name__=${JSON.stringify(metric)}})`)} series`, metricTotal);
  await shot('cardinality');

  // Then the label with the most values: its top values by series.
  const [label] = labelRows[0];
  await page.locator(`[data-testid=metric-labels] tr[data-label="${label}"] a`).first().click();
  await page.locator('[data-testid=label-top-values][data-done=true]').waitFor({ timeout: 20000 });
  check('choosing a label puts it in the URL', new URL(page.url()).searchParams.get('label') === label && new URL(page.url()).searchParams.get('metric') === metric, page.url());
  const at2 = await page.getByTestId('label-top-values').getAttribute('data-time');
  const valueRows = await page.locator('[data-testid=top-values] tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.innerText.trim())));
  const topApi = (await api('query', { query: `topk(20, count by (${label}) (${sel(label)}))`, time: at2 })).result;
  const apiCounts = new Map(topApi.map((s) => [s.metric[label], Number(s.value[1]).toLocaleString('en-US')]));
  // topk may break ties differently between two runs: every shown value
  // must carry the API's count, and the counts must be the same multiset.
  const sortedCounts = (xs) => JSON.stringify(xs.map((x) => Number(x.replace(/,/g, ''))).sort((a, b) => b - a));
  const valueMismatch = valueRows.filter(([v, n]) => apiCounts.has(v) && apiCounts.get(v) !== n);
  check(
    'a label’s top values and their series equal topk(20, count by (label) (...))',
    valueRows.length > 0 && valueRows.length === topApi.length && valueMismatch.length === 0 && sortedCounts(valueRows.map((r) => r[1])) === sortedCounts([...apiCounts.values()]),
    `${JSON.stringify(valueRows)} vs ${JSON.stringify([...apiCounts])}`,
  );
  await shot('cardinality-values');
  await page.reload();
  await page.locator('[data-testid=label-top-values][data-done=true]').waitFor({ timeout: 20000 });
  check('reloading keeps the drill-down', (await page.locator('[data-testid=top-values] tr').count()) === valueRows.length);
  await page.goBack();
  await page.locator('[data-testid=metric-labels]').waitFor({ timeout: 10000 });
  check('Back returns to the metric’s labels', !new URL(page.url()).searchParams.has('label'));

  // --- Unknown API paths keep the API's JSON 404
  const notFound = await fetch(`${base}/api/v1/nope`);
  check('unknown API paths still answer JSON 404', notFound.status === 404 && (await notFound.json()).errorType === 'not_found');

  // --- Triage views over the fixture target (tests/fixture.mjs)
  const openUi = async (p, path) => {
    await p.goto(`${base}${path}`);
  };
  const verdictOf = (p, id) => p.getByTestId(`step-${id}`).getByTestId('verdict').innerText();
  const diagnoseUrl = (pod) => `/diagnose?${new URLSearchParams({ namespace: fx.NS, pod })}`;
  await waitFor('fixture scraped', async () => (await api('query', { query: 'count(kube_pod_info)' })).result[0]?.value[1] === String(Object.keys(fx.PODS).length));
  await waitFor('the OOM pod restarting and its alert firing', async () =>
    (await api('alerts')).alerts.some((a) => a.labels.alertname === 'KubePodOOMKilled' && a.labels.pod === fx.PODS.oom && a.state === 'firing'),
  );

  // The pod list: what the API says is restarting, pending or unready.
  await openUi(page, '/diagnose');
  await page.getByTestId('pod-row').first().waitFor({ timeout: 10000 });
  const podRows = await page.getByTestId('pod-row').evaluateAll((trs) => trs.map((tr) => ({ pod: tr.querySelector('td a').innerText.trim(), why: tr.querySelector('.tri-why').innerText })));
  const restartingApi = (await api('query', { query: 'sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total[1h])) > 0' })).result.map((s) => `${s.metric.namespace}/${s.metric.pod}`).sort();
  const restartingUi = podRows.filter((r) => /restarts? \/ 1h/.test(r.why)).map((r) => r.pod).sort();
  check(
    'pod list shows the restarting pods the API finds',
    restartingUi.includes(`${fx.NS}/${fx.PODS.crash}`) && restartingUi.includes(`${fx.NS}/${fx.PODS.oom}`) && JSON.stringify(restartingUi) === JSON.stringify(restartingApi),
    `UI ${restartingUi.join(' ')} API ${restartingApi.join(' ')}`,
  );
  const pendingRow = podRows.find((r) => r.pod === `${fx.NS}/${fx.PODS.pending}`);
  check('pod list shows the pending pod as pending', !!pendingRow && pendingRow.why.includes('pending'), JSON.stringify(pendingRow));
  check('pod list leaves out the healthy pod', !podRows.some((r) => r.pod.endsWith(fx.PODS.healthy)));
  await shot('diagnose-list');

  // Picking the crash-looping pod from the list.
  await page.getByRole('link', { name: `${fx.NS}/${fx.PODS.crash}` }).click();
  await page.getByTestId('headline').waitFor({ timeout: 15000 });
  const crashUrl = new URL(page.url());
  check('picking a pod puts namespace and pod in the URL', crashUrl.searchParams.get('namespace') === fx.NS && crashUrl.searchParams.get('pod') === fx.PODS.crash, crashUrl.search);
  const crashHead = await page.getByTestId('headline').innerText();
  const crashM = /^Crash-looping: (\d+) restarts? in the last hour, last exit code 1 \(application error\)$/.exec(crashHead);
  const crashApi = Math.round(Number((await api('query', { query: `increase(kube_pod_container_status_restarts_total{pod="${fx.PODS.crash}"}[1h])` })).result[0]?.value[1]));
  check('crash-looping pod: verdict names the restarts and exit code 1', !!crashM && Math.abs(Number(crashM[1]) - crashApi) <= 2 && crashApi > 0, `${crashHead} (API ${crashApi})`);
  check('crash-looping pod: exit 1 step and the signals lean to an application bug', (await verdictOf(page, 'termination')).startsWith('Exit code 1 (application error)') && (await page.getByTestId('lean').innerText()).includes('application bug'));
  await page.getByTestId('restart-graph').locator('canvas').first().waitFor({ timeout: 10000 });
  check('crash-looping pod: restart history is drawn', (await page.getByTestId('restart-graph').locator('canvas').count()) > 0);
  await shot('diagnose-crashloop');

  // The OOMKilled pod, opened by URL.
  await openUi(page, diagnoseUrl(fx.PODS.oom));
  await page.getByTestId('headline').waitFor({ timeout: 15000 });
  const oomHead = await page.getByTestId('headline').innerText();
  check('OOMKilled pod: verdict', oomHead === 'OOMKilled: memory working set reached its 512 MiB limit', oomHead);
  const memVerdict = await verdictOf(page, 'memory');
  check('OOMKilled pod: kernel OOM, not the JVM heap', memVerdict.startsWith('Kernel OOM, not the JVM heap: the heap peaked at'), memVerdict);
  await page.getByTestId('memory-graph').locator('canvas').first().waitFor({ timeout: 10000 });
  const legendText = await page.getByTestId('memory-graph').locator('.tri-legend').innerText();
  check('OOMKilled pod: working set, limit and heap are drawn', ['working set ledger', 'limit ledger', 'JVM heap used', 'JVM heap max'].every((l) => legendText.includes(l)), legendText);
  const packRules = new Map((await api('rules', { type: 'alert' })).groups.flatMap((g) => g.rules).map((r) => [r.name, r]));
  const oomStep = page.getByTestId('step-termination');
  const runbookHref = await oomStep.locator('a.tri-runbook').getAttribute('href');
  check('OOMKilled step links the pack alert\u2019s runbook_url', runbookHref === packRules.get('KubePodOOMKilled').annotations.runbook_url, runbookHref);
  check('OOMKilled step shows the alert firing, as the rules API has it', (await oomStep.locator('.tri-alert').innerText()).includes('FIRING'));
  const qHref = await oomStep.locator('ul.tri-queries a').first().getAttribute('href');
  const qUrl = new URL(qHref, base);
  check('steps link their PromQL to the query page graph tab', qUrl.pathname === '/query' && qUrl.searchParams.get('g0.tab') === 'graph' && qUrl.searchParams.get('g0.expr').includes('kube_pod_container_status_last_terminated_reason'), qHref);
  check('OOMKilled pod: HPA at its maximum', (await verdictOf(page, 'autoscaling')) === 'HPA ledger at its maximum: 6 of 6 replicas');
  await shot('diagnose-oom');
  // Keyboard: Tab from the top reaches the picker, the steps' runbook and
  // query links (bounded number of presses).
  const tabbed = await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
    return true;
  });
  const reached = new Set();
  for (let i = 0; tabbed && i < 60; i++) {
    await page.keyboard.press('Tab');
    reached.add(
      await page.evaluate(() => {
        const el = document.activeElement;
        if (!el) return '';
        if (el.matches('input[name=namespace]')) return 'namespace';
        if (el.matches('input[name=pod]')) return 'pod';
        if (el.matches('button[type=submit]')) return 'submit';
        if (el.matches('a.tri-runbook')) return 'runbook';
        if (el.matches('ul.tri-queries a')) return 'query';
        return '';
      }),
    );
  }
  check('diagnose is keyboard reachable: picker, runbook and query links', ['namespace', 'pod', 'submit', 'runbook', 'query'].every((k) => reached.has(k)), [...reached].join(','));

  // The pending pod, picked with the form and the keyboard.
  const podOptions = await page.locator('#tri-pods option').evaluateAll((os) => os.map((o) => o.value));
  const podValues = (await api('label/pod/values', { 'match[]': `kube_pod_info{namespace="${fx.NS}"}` })).sort();
  check('pod autocomplete offers the label values of kube_pod_info', JSON.stringify([...podOptions].sort()) === JSON.stringify(podValues), `${podOptions.length} vs ${podValues.length}`);
  await page.getByLabel('Pod').fill(fx.PODS.pending);
  await page.getByLabel('Pod').press('Enter');
  await page.waitForFunction((p) => new URLSearchParams(window.location.search).get('pod') === p, fx.PODS.pending, { timeout: 5000 });
  await page.getByTestId('headline').filter({ hasText: 'Pending' }).waitFor({ timeout: 15000 });
  check('pending pod: verdict', (await page.getByTestId('headline').innerText()) === 'Pending: unschedulable');
  const schedText = await page.getByTestId('step-scheduling').innerText();
  check('pending pod: nodes per zone from kube_node_labels', schedText.includes('Nodes per zone: eu-west-1a 1, eu-west-1b 2.'), schedText);
  await shot('diagnose-pending');

  // The evicted pod from the list, in-page: Back then returns to the pending pod.
  await page.getByRole('link', { name: `${fx.NS}/${fx.PODS.evicted}` }).click();
  await page.getByTestId('headline').filter({ hasText: 'Evicted' }).waitFor({ timeout: 15000 });
  check('evicted pod: verdict names the node and its pressure', (await page.getByTestId('headline').innerText()) === 'Evicted from node node-c under DiskPressure');
  await page.goBack();
  await page.getByTestId('headline').filter({ hasText: 'Pending' }).waitFor({ timeout: 15000 });
  check('Back returns to the previous pod', new URL(page.url()).searchParams.get('pod') === fx.PODS.pending);

  // --- Kafka lag
  await waitFor('the spike group drained and its recorded slope negative', async () =>
    fixture.scrapes() > fx.SPIKE_DONE + 5 &&
    Number((await api('query', { query: `consumergroup_topic:kafka_consumergroup_lag:deriv10m{consumergroup="${fx.SPIKE_GROUP}"}` })).result[0]?.value[1]) < 0,
  60000);
  await openUi(page, '/kafka-lag');
  await page.getByTestId('group-list').waitFor({ timeout: 10000 });
  const lagGroupsShown = await page.getByTestId('group-list').locator('tbody tr').count();
  const groupsApi = await api('label/consumergroup/values', { 'match[]': 'kafka_consumergroup_lag' });
  check('kafka lag lists every consumer group', lagGroupsShown === groupsApi.length && groupsApi.length === 3, `${lagGroupsShown} vs ${groupsApi.length}`);
  await page.getByRole('link', { name: fx.HOT_GROUP, exact: true }).click();
  await page.getByTestId('partition-row').first().waitFor({ timeout: 15000 });
  check('group pick is in the URL', new URL(page.url()).searchParams.get('group') === fx.HOT_GROUP);
  const partApi = await api('query', { query: `kafka_consumergroup_lag{consumergroup="${fx.HOT_GROUP}"}` });
  const partRows = await page.getByTestId('partition-row').evaluateAll((trs) => trs.map((tr) => ({ p: tr.dataset.partition, hot: tr.dataset.hot === 'true' })));
  const drawn = Number(await page.getByTestId('lag-graph').getAttribute('data-series'));
  check('kafka lag: one series per partition, as many as the API has', partRows.length === partApi.result.length && drawn === partApi.result.length && partApi.result.length === fx.PARTITIONS, `rows ${partRows.length}, drawn ${drawn}, API ${partApi.result.length}`);
  const hotRows = partRows.filter((r) => r.hot);
  check('kafka lag: the hot partition is marked and ranked first', hotRows.length === 1 && hotRows[0].p === fx.HOT_PARTITION && partRows[0].p === fx.HOT_PARTITION, JSON.stringify(partRows));
  const hotReason = await page.getByTestId('hot-reason').innerText();
  check('kafka lag: the hot partition is named', hotReason.startsWith(`Hot partition ${fx.HOT_PARTITION}:`), hotReason);
  const hotVerdict = page.getByTestId('lag-verdict');
  check('kafka lag: growing lag younger than 15 minutes is "rising"', (await hotVerdict.getAttribute('data-kind')) === 'rising' && (await hotVerdict.innerText()).startsWith('Rising for'), await hotVerdict.innerText());
  const lagRunbook = await page.getByTestId('topic').locator('a.tri-runbook').first().getAttribute('href');
  check('kafka lag links KafkaConsumerGroupLagGrowing\u2019s runbook', lagRunbook === packRules.get('KafkaConsumerGroupLagGrowing').annotations.runbook_url, lagRunbook);
  await shot('kafka-lag');
  // The charts redraw in the other theme's colours when the header toggles it.
  await page.getByRole('button', { name: /Switch to dark theme/ }).click();
  await page.waitForTimeout(300);
  await shot('kafka-lag-toggled-dark');
  await page.getByRole('button', { name: /Switch to light theme/ }).click();

  await page.getByLabel('Consumer group').selectOption(fx.SPIKE_GROUP);
  await page.getByTestId('lag-verdict').filter({ hasText: /./ }).waitFor({ timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=group-view]')?.getAttribute('aria-label') === 'Lag of ledger-writer', null, { timeout: 15000 });
  const spikeVerdict = page.getByTestId('lag-verdict');
  check('kafka lag: a drained deploy spike is a spike, not growth', (await spikeVerdict.getAttribute('data-kind')) === 'spike' && (await spikeVerdict.innerText()).startsWith('Deploy spike, draining: lag peaked'), await spikeVerdict.innerText());
  check('kafka lag: no hot partition when every partition lags alike', (await page.locator('[data-testid=partition-row][data-hot=true]').count()) === 0);
  await shot('kafka-lag-spike');
  await openUi(page, `/kafka-lag?group=${fx.IDLE_GROUP}`);
  await page.getByTestId('lag-verdict').waitFor({ timeout: 15000 });
  check('kafka lag: an idle group is caught up', (await page.getByTestId('lag-verdict').innerText()) === 'Caught up: no lag');

  // Empty and error states: the same pages against an API answering as a
  // server without these exporters would (empty results), and failing.
  const bare = await context.newPage();
  current = bare;
  let failApi = false;
  await bare.route(/\/api\/v1\/(query|query_range|label\/[^/]+\/values)(\?|$)/, (route) => {
    if (failApi) return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ status: 'error', errorType: 'unavailable', error: 'e2e: storage unavailable' }) });
    const u = new URL(route.request().url());
    const data = u.pathname.includes('/label/') ? [] : { resultType: u.pathname.endsWith('query_range') ? 'matrix' : 'vector', result: [] };
    return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ status: 'success', data }) });
  });
  await openUi(bare, diagnoseUrl(fx.PODS.oom));
  await bare.getByTestId('empty-state').waitFor({ timeout: 10000 });
  check('diagnose without kube-state-metrics says so', (await bare.getByTestId('empty-state').innerText()).startsWith('No kube-state-metrics series found — is kube-state-metrics scraped?'));
  await openUi(bare, '/kafka-lag');
  await bare.getByTestId('empty-state').waitFor({ timeout: 10000 });
  check('kafka lag without kafka_exporter says so', (await bare.getByTestId('empty-state').innerText()).startsWith('No kafka_consumergroup_lag series found — is kafka_exporter scraped?'));
  failApi = true;
  await openUi(bare, diagnoseUrl(fx.PODS.oom));
  await bare.getByRole('alert').first().waitFor({ timeout: 10000 });
  check('diagnose shows the API error', (await bare.getByRole('alert').first().innerText()).includes('e2e: storage unavailable'));
  await bare.close();
  current = page;

  // --- Dark theme and phone width
  const dark = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true });
  const phone = await dark.newPage();
  current = phone;
  phone.on('pageerror', (e) => pageErrors.push(e.message));
  phone.on('response', (r) => r.status() >= 400 && pageErrors.push(`HTTP ${r.status()} from ${r.url()}`));
  await phone.goto(`${base}/query?g0.expr=${encodeURIComponent('rate(strata_ingest_samples_total[1m])')}&g0.tab=0&g0.range_input=5m`);
  await phone.locator('.graph canvas').first().waitFor({ timeout: 10000 });
  const bg = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check('dark theme follows prefers-color-scheme', bg !== 'rgb(246, 247, 249)' && bg !== 'rgb(255, 255, 255)', bg);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check('no horizontal overflow at phone width', overflow <= 1, `${overflow}px`);
  await shot('phone-dark-graph', phone);
  await phone.getByRole('button', { name: 'Menu' }).click();
  await shot('phone-dark-menu', phone);
  await phone.getByRole('link', { name: 'Alerts' }).click();
  await phone.getByTestId('alerts-firing').waitFor();
  await shot('phone-dark-alerts', phone);

  await openUi(phone, diagnoseUrl(fx.PODS.oom));
  await phone.getByTestId('memory-graph').locator('canvas').first().waitFor({ timeout: 15000 });
  const diagOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check('diagnose: no horizontal overflow at phone width', diagOverflow <= 1, `${diagOverflow}px`);
  await shot('phone-dark-diagnose', phone);
  await openUi(phone, `/kafka-lag?group=${fx.HOT_GROUP}`);
  await phone.getByTestId('partition-row').first().waitFor({ timeout: 15000 });
  const lagOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check('kafka lag: no horizontal overflow at phone width', lagOverflow <= 1, `${lagOverflow}px`);
  await shot('phone-dark-kafka-lag', phone);

  // The toggle overrides the system preference.
  await page.goto(`${base}/query`);
  await page.getByRole('button', { name: /Switch to dark theme/ }).click();
  const toggled = await page.evaluate(() => document.documentElement.dataset.theme);
  check('theme toggle switches to dark', toggled === 'dark');
  await page.reload();
  check('theme choice survives a reload', (await page.evaluate(() => document.documentElement.dataset.theme)) === 'dark');
  await shot('query-dark');

  check('no errors in the browser console', pageErrors.length === 0, pageErrors.join(' | '));

  // --- Under a prefix, multi-tenant: the UI asks for a tenant on the 401,
  // sends it as X-Scope-OrgID everywhere, and every request stays under
  // /strata.
  await waitFor('the prefixed server', async () => (await fetch(`${baseB}/-/ready`)).ok);
  const apiB = async (path, params = {}, orgId = 'anonymous') => {
    const res = await fetch(`${baseB}/api/v1/${path}?${new URLSearchParams(params)}`, { headers: { 'X-Scope-OrgID': orgId } });
    const body = await res.json();
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
    return body.data;
  };
  await waitFor('the prefixed server’s self-scrape', async () => (await apiB('query', { query: 'up{job="strata"}' })).result[0]?.value[1] === '1');
  const tctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  const tp = await tctx.newPage();
  current = tp;
  const requested = [];
  const tErrors = [];
  let unauthorized = 0;
  tp.on('pageerror', (e) => tErrors.push(e.message));
  tp.on('request', (r) => requested.push(r.url()));
  tp.on('response', (r) => {
    if (r.status() === 401) unauthorized++;
    else if (r.status() >= 400) tErrors.push(`HTTP ${r.status()} from ${r.url()}`);
  });
  await tp.goto(`${baseB}/`);
  check('the prefix root redirects to the prefixed query page', new URL(tp.url()).pathname === '/strata/query', tp.url());
  await tp.goto(`${baseB}/query?g0.expr=up&g0.tab=table`);
  await tp.getByTestId('tenant-needed').waitFor({ timeout: 10000 });
  const focused = await tp.evaluate(() => document.activeElement?.id);
  check('a 401 for want of a tenant says so and focuses the tenant field', unauthorized > 0 && focused === 'tenant', `401s ${unauthorized}, focus on ${focused}`);
  await shot('tenant-needed', tp);
  await tp.getByLabel('Tenant (X-Scope-OrgID)').fill('anonymous');
  await tp.getByLabel('Tenant (X-Scope-OrgID)').press('Enter');
  await tp.locator('[data-testid=result-table] tr').first().waitFor({ timeout: 10000 });
  const upB = await apiB('query', { query: 'up' });
  check('with the tenant set, the query page under the prefix shows the API’s answer', (await tp.locator('[data-testid=result-table] tr').count()) === upB.result.length && !(await tp.getByTestId('tenant-needed').isVisible()));
  const sent = await tp.evaluate(() => localStorage.getItem('strata.tenant'));
  check('the tenant is remembered in localStorage', sent === 'anonymous', sent);

  // Autocomplete goes through the prefix with the tenant too.
  const edB = tp.locator('.cm-content').first();
  await edB.click();
  await tp.keyboard.press('Control+a');
  await tp.keyboard.type('strata_ingest_sam', { delay: 30 });
  const optB = tp.locator('.cm-tooltip-autocomplete li', { hasText: 'strata_ingest_samples' }).first();
  const completed = await optB.waitFor({ timeout: 10000 }).then(() => true, () => false);
  check('autocomplete works under the prefix for the tenant', completed);
  await tp.keyboard.press('Escape');
  await shot('prefix-query', tp);

  // Nav links stay under the prefix, without a reload.
  await tp.getByRole('link', { name: 'Targets', exact: true }).click();
  await tp.getByTestId('scrape-pool').first().waitFor({ timeout: 10000 });
  check('nav links stay under the prefix', new URL(tp.url()).pathname === '/strata/targets', tp.url());

  // ?tenant= sets it; another tenant has no series of its own.
  await tp.goto(`${baseB}/cardinality?tenant=nobody`);
  await tp.getByTestId('limit-series').waitFor({ timeout: 10000 });
  const nobody = await apiB('status/tsdb', {}, 'nobody');
  check(
    '?tenant= sets the tenant, and the cardinality page shows that tenant’s head',
    (await tp.getByLabel('Tenant (X-Scope-OrgID)').inputValue()) === 'nobody' && nobody.headStats.numSeries === 0 && (await tp.getByTestId('limit-series').innerText()).startsWith('0 /'),
  );
  await tp.getByLabel('Tenant (X-Scope-OrgID)').fill('anonymous');
  await tp.getByLabel('Tenant (X-Scope-OrgID)').press('Enter');
  await tp.getByTestId('top-metrics').waitFor({ timeout: 10000 });
  const anon = await apiB('status/tsdb', { limit: '20' });
  check('switching the tenant reloads the page for it', (await tp.locator('[data-testid=top-metrics] tbody tr').count()) === anon.seriesCountByMetricName.length);
  const outside = requested.filter((u) => new URL(u).origin === new URL(baseB).origin && !new URL(u).pathname.startsWith('/strata/'));
  check('every request of the UI went under the prefix', requested.length > 10 && outside.length === 0, outside.join(', '));
  check('no errors under the prefix', tErrors.length === 0, tErrors.join(' | '));
  await tctx.close();
  current = page;
} catch (e) {
  failed++;
  console.log(`not ok - e2e aborted: ${e.stack || e}`);
  if (current) await current.screenshot({ path: join(ARTEFACTS, 'failure.png'), fullPage: true }).catch(() => {});
  console.log(serverLog.split('\n').slice(-20).join('\n'));
  console.log(serverBLog.split('\n').slice(-10).join('\n'));
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  await Promise.race([new Promise((r) => server.once('exit', r)), sleep(5000)]);
  if (!serverExited) server.kill('SIGKILL');
  serverB.kill('SIGTERM');
  await Promise.race([new Promise((r) => serverB.once('exit', r)), sleep(5000)]);
  if (!serverBExited) serverB.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  await fixture.close();
}

console.log(`screenshots: ${ARTEFACTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
