// The cardinality explorer: the tenant's series against its limit, the
// metric names with the most series (from /api/v1/status/tsdb, index
// statistics, no samples read), then one metric's label names with their
// distinct values and series, then one label's top values. The drill-down
// runs small PromQL aggregations at one evaluation time, so every number
// on the page can be re-run as it stands (each links to its query).
import { useEffect, useState } from 'preact/hooks';
import { api, useApi } from '../api.js';
import { Loading, QueryLink } from '../common.jsx';
import { href } from '../paths.js';
import { formatTime } from '../time.js';

const LIMITS = [10, 20, 50, 100];
const TOP_VALUES = 20;
// Label queries in flight at once: each reads every series of the metric.
const PARALLEL = 4;

const LEGACY_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A label name as PromQL takes it: quoted when not a classic name (UTF-8 names, Prometheus 3). */
export function labelName(n) {
  return LEGACY_NAME.test(n) ? n : JSON.stringify(n);
}

const selector = (metric, label) => `{__name__=${JSON.stringify(metric)}${label !== undefined ? `,${labelName(label)}!=""` : ''}}`;
const exprs = {
  metricSeries: (m) => `count(${selector(m)})`,
  labelValues: (m, l) => `count(count by (${labelName(l)}) (${selector(m, l)}))`,
  labelSeries: (m, l) => `count(${selector(m, l)})`,
  topValues: (m, l) => `topk(${TOP_VALUES}, count by (${labelName(l)}) (${selector(m, l)}))`,
  tenantLabelSeries: (l) => `count({${labelName(l)}!=""})`,
};

const num = (v) => (v === null || v === undefined ? '–' : Number(v).toLocaleString('en-US'));
const pct = (part, whole) => (whole > 0 && part !== null ? `${((100 * part) / whole).toFixed(part * 1000 < whole ? 2 : 1)}%` : '–');

/** The single value of an aggregation at time t (0 when it selected nothing). */
async function scalarAt(expr, t, signal) {
  const r = await api('query', { query: expr, time: t }, { method: 'POST', signal });
  const v = r.data.result[0];
  return v ? Number(v.value[1]) : 0;
}

function readUrl() {
  const q = new URLSearchParams(window.location.search);
  const limit = Number(q.get('limit'));
  return { metric: q.get('metric') || null, label: q.get('label') || null, limit: LIMITS.includes(limit) ? limit : 20 };
}

function urlOf({ metric, label, limit }) {
  const q = new URLSearchParams();
  if (metric) q.set('metric', metric);
  if (metric && label) q.set('label', label);
  if (limit !== 20) q.set('limit', String(limit));
  const s = q.toString();
  return href('/cardinality') + (s ? `?${s}` : '');
}

export function CardinalityPage() {
  const [state, setState] = useState(readUrl);
  useEffect(() => {
    const onPop = () => setState(readUrl());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = (next) => {
    const s = { ...state, label: null, ...next };
    window.history.pushState(null, '', urlOf(s));
    setState(s);
    window.scrollTo(0, 0);
  };
  // A link that works as a link (new tab, copy) and navigates in place.
  // A plain function, not a component: a component made per render would
  // remount its subtree on every update.
  const nav = (to, children, cls) => (
    <a
      href={urlOf({ ...state, label: null, ...to })}
      class={cls}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        go(to);
      }}
    >
      {children}
    </a>
  );

  const [tsdb] = useApi('status/tsdb', { limit: state.limit });
  const [flags] = useApi('status/flags');

  return (
    <main class="page cardinality">
      <div class="page-head">
        <h1>
          {nav({ metric: null }, 'Cardinality')}
          {state.metric && (
            <>
              {' › '}
              {nav({ metric: state.metric }, state.metric, 'mono')}
            </>
          )}
          {state.metric && state.label && (
            <>
              {' › '}
              <span class="mono">{state.label}</span>
            </>
          )}
        </h1>
        <a href={href('/tsdb-status')}>TSDB status</a>
      </div>
      <Loading state={tsdb}>{(d) => <LimitCard tsdb={d} flags={flags.data} />}</Loading>
      {!state.metric && (
        <Loading state={tsdb}>
          {(d) => <TopMetrics tsdb={d} limit={state.limit} setLimit={(limit) => go({ limit, metric: null })} nav={nav} />}
        </Loading>
      )}
      {state.metric && !state.label && <MetricLabels key={state.metric} metric={state.metric} nav={nav} />}
      {state.metric && state.label && <LabelValues key={`${state.metric}\u0000${state.label}`} metric={state.metric} label={state.label} />}
    </main>
  );
}

// A ranked row's series count, its share of the head and a bar scaled to
// the largest row.
function SeriesCells({ series, total, max }) {
  return (
    <>
      <td class="num mono">{num(series)}</td>
      <td class="num mono">{pct(series, total)}</td>
      <td class="barcol">
        <Bar part={series} whole={max} />
      </td>
    </>
  );
}

function Bar({ part, whole, level }) {
  const w = whole > 0 && part > 0 ? Math.max(0.5, Math.min(100, (100 * part) / whole)) : 0;
  return (
    <span class="bar" aria-hidden="true">
      <span class={`bar-fill ${level || ''}`} style={{ width: `${w}%` }} />
    </span>
  );
}

/** The tenant's head series against --limits.max-series-per-tenant, and the label that drives it. */
function LimitCard({ tsdb, flags }) {
  const series = tsdb.headStats?.numSeries ?? 0;
  const limit = flags ? Number(flags['limits.max-series-per-tenant']) : NaN;
  const share = limit > 0 ? series / limit : null;
  const level = share === null ? '' : share >= 0.95 ? 'bad' : share >= 0.8 ? 'warn' : 'ok';
  const top = (tsdb.labelValueCountByLabelName || []).find((r) => r.name !== '__name__');
  const pair = (tsdb.seriesCountByLabelValuePair || []).find((r) => !r.name.startsWith('__name__='));
  const [carrying, setCarrying] = useState(null);
  const [time] = useState(() => Math.floor(Date.now() / 1000));
  useEffect(() => {
    if (!top) return undefined;
    const ctl = new AbortController();
    scalarAt(exprs.tenantLabelSeries(top.name), time, ctl.signal).then(setCarrying, (e) => e.name !== 'AbortError' && setCarrying(NaN));
    return () => ctl.abort();
  }, [top && top.name]);
  return (
    <section class="card" data-testid="limit-card">
      <h2>Series against the limit</h2>
      <div class="limit-row">
        <span class="limit-figure mono" data-testid="limit-series">
          {num(series)}
          {limit > 0 ? ` / ${num(limit)}` : ''}
        </span>
        <span class={`limit-pct ${level}`}>{share !== null ? `${(100 * share).toFixed(share < 0.001 ? 3 : 1)}% of limits.max-series-per-tenant` : 'limit unknown'}</span>
      </div>
      <Bar part={series} whole={limit > 0 ? limit : series} level={level} />
      <dl class="kv limit-kv">
        <dt>Label with the most distinct values</dt>
        <dd data-testid="top-label">
          {top ? (
            <>
              <b class="mono">{top.name}</b>: {num(top.value)} values
              {carrying !== null && !Number.isNaN(carrying) && (
                <>
                  {', on '}
                  <QueryLink expr={exprs.tenantLabelSeries(top.name)}>{num(carrying)} series</QueryLink> ({pct(carrying, series)} of the head)
                </>
              )}
            </>
          ) : (
            <span class="muted">no labels yet</span>
          )}
        </dd>
        <dt>Label pair on the most series</dt>
        <dd class="mono">{pair ? `${pair.name}: ${num(pair.value)} series` : <span class="muted">none</span>}</dd>
      </dl>
      <p class="muted small">
        The limit counts the tenant's series in the head (series with samples since the last block was cut); writes that would create series beyond it are refused with 429.
        Label counts are of the head's index, so they include series that have since gone quiet.
      </p>
    </section>
  );
}

function TopMetrics({ tsdb, limit, setLimit, nav }) {
  const rows = tsdb.seriesCountByMetricName || [];
  const total = tsdb.headStats?.numSeries ?? 0;
  const max = rows.length ? rows[0].value : 0;
  return (
    <section class="card">
      <div class="card-head">
        <h2>Metric names by series</h2>
        <label class="group">
          <span class="muted">Top</span>
          <select aria-label="How many metric names" value={String(limit)} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
            {LIMITS.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <span class="muted small">from /api/v1/status/tsdb (the head's index, no samples read); pick one to see its labels</span>
      </div>
      {rows.length === 0 ? (
        <p class="muted">No series yet.</p>
      ) : (
        <div class="table-wrap">
          <table class="data" data-testid="top-metrics">
            <thead>
              <tr>
                <th>Metric name</th>
                <th class="num">Series</th>
                <th class="num">Of the head</th>
                <th class="barcol" aria-hidden="true" />
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name}>
                  <td class="mono">
                    {nav({ metric: r.name }, r.name)}
                  </td>
                  <SeriesCells series={r.value} total={total} max={max} />
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Evaluated({ time, onRefresh }) {
  return (
    <span class="muted small">
      at {formatTime(time * 1000)} UTC{' '}
      <button type="button" class="btn" onClick={onRefresh}>
        Refresh
      </button>
    </span>
  );
}

/** One metric's label names: distinct values and series per label, at one time. */
function MetricLabels({ metric, nav }) {
  const [time, setTime] = useState(() => Math.floor(Date.now() / 1000));
  const [total, setTotal] = useState(null);
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const ctl = new AbortController();
    const { signal } = ctl;
    setRows(null);
    setTotal(null);
    setError(null);
    (async () => {
      // Label names of the series an instant query at `time` can see.
      const [names, count] = await Promise.all([
        api('labels', { 'match[]': selector(metric), start: time - 300, end: time }, { signal }).then((r) => r.data.filter((n) => n !== '__name__')),
        scalarAt(exprs.metricSeries(metric), time, signal),
      ]);
      setTotal(count);
      const out = names.map((name) => ({ name, values: null, series: null }));
      setRows([...out]);
      let next = 0;
      const worker = async () => {
        while (next < out.length) {
          const row = out[next++];
          const [values, series] = await Promise.all([scalarAt(exprs.labelValues(metric, row.name), time, signal), scalarAt(exprs.labelSeries(metric, row.name), time, signal)]);
          row.values = values;
          row.series = series;
          setRows([...out]);
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, out.length) }, worker));
    })().catch((e) => e.name !== 'AbortError' && setError(e));
    return () => ctl.abort();
  }, [metric, time]);

  const done = rows && rows.every((r) => r.values !== null);
  const sorted = rows && (done ? [...rows].sort((a, b) => b.values - a.values || (a.name < b.name ? -1 : 1)) : rows);
  const maxValues = sorted && sorted.length ? Math.max(...sorted.map((r) => r.values || 0)) : 0;
  return (
    <section class="card" data-testid="metric-labels" data-time={String(time)} data-done={done ? 'true' : 'false'}>
      <div class="card-head">
        <h2>
          Labels of <span class="mono">{metric}</span>
        </h2>
        <span data-testid="metric-series">
          <QueryLink expr={exprs.metricSeries(metric)}>{total === null ? '…' : `${num(total)} series`}</QueryLink>
        </span>
        <Evaluated time={time} onRefresh={() => setTime(Math.floor(Date.now() / 1000))} />
      </div>
      {error && (
        <div class="msg error" role="alert">
          <b>Error:</b> {error.message}
        </div>
      )}
      {!sorted && !error && <p class="muted">Loading…</p>}
      {sorted && sorted.length === 0 && <p class="muted">No series of this metric at this time (it has none in the last 5 minutes).</p>}
      {sorted && sorted.length > 0 && (
        <div class="table-wrap">
          <table class="data">
            <thead>
              <tr>
                <th>Label name</th>
                <th class="num">Distinct values</th>
                <th class="num">Series with it</th>
                <th class="num">Of the metric</th>
                <th class="barcol" aria-hidden="true" />
              </tr>
            </thead>
            <tbody>
              {sorted.map((r) => (
                <tr key={r.name} data-label={r.name}>
                  <td class="mono">
                    {nav({ metric, label: r.name }, r.name)}
                  </td>
                  <td class="num mono" data-testid="label-values">
                    {r.values === null ? '…' : <QueryLink expr={exprs.labelValues(metric, r.name)}>{num(r.values)}</QueryLink>}
                  </td>
                  <td class="num mono" data-testid="label-series">
                    {r.series === null ? '…' : <QueryLink expr={exprs.labelSeries(metric, r.name)}>{num(r.series)}</QueryLink>}
                  </td>
                  <td class="num mono">{pct(r.series, total)}</td>
                  <td class="barcol">
                    <Bar part={r.values || 0} whole={maxValues} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** One label's most common values within a metric, by series. */
function LabelValues({ metric, label }) {
  const [time, setTime] = useState(() => Math.floor(Date.now() / 1000));
  const [state, setState] = useState({});
  useEffect(() => {
    const ctl = new AbortController();
    const { signal } = ctl;
    setState({});
    Promise.all([
      api('query', { query: exprs.topValues(metric, label), time }, { method: 'POST', signal }),
      scalarAt(exprs.labelValues(metric, label), time, signal),
      scalarAt(exprs.metricSeries(metric), time, signal),
    ])
      .then(([top, values, total]) => {
        const rows = top.data.result.map((s) => ({ value: s.metric[label] ?? '', series: Number(s.value[1]) })).sort((a, b) => b.series - a.series || (a.value < b.value ? -1 : 1));
        setState({ rows, values, total });
      })
      .catch((e) => e.name !== 'AbortError' && setState({ error: e }));
    return () => ctl.abort();
  }, [metric, label, time]);
  const { rows, values, total, error } = state;
  const max = rows && rows.length ? rows[0].series : 0;
  return (
    <section class="card" data-testid="label-top-values" data-time={String(time)} data-done={rows ? 'true' : 'false'}>
      <div class="card-head">
        <h2>
          Top values of <span class="mono">{label}</span> in <span class="mono">{metric}</span>
        </h2>
        {rows && (
          <span class="muted">
            {rows.length < values ? `top ${rows.length} of ` : ''}
            <QueryLink expr={exprs.labelValues(metric, label)}>{num(values)} distinct values</QueryLink> on {num(total)} series
          </span>
        )}
        <Evaluated time={time} onRefresh={() => setTime(Math.floor(Date.now() / 1000))} />
      </div>
      {error && (
        <div class="msg error" role="alert">
          <b>Error:</b> {error.message}
        </div>
      )}
      {!rows && !error && <p class="muted">Loading…</p>}
      {rows && rows.length === 0 && <p class="muted">No series of this metric carry this label at this time.</p>}
      {rows && rows.length > 0 && (
        <div class="table-wrap">
          <table class="data">
            <thead>
              <tr>
                <th>Value</th>
                <th class="num">Series</th>
                <th class="num">Of the metric</th>
                <th class="barcol" aria-hidden="true" />
              </tr>
            </thead>
            <tbody data-testid="top-values">
              {rows.map((r) => (
                <tr key={r.value}>
                  <td class="mono">
                    <QueryLink expr={`{__name__=${JSON.stringify(metric)},${labelName(label)}=${JSON.stringify(r.value)}}`}>{r.value}</QueryLink>
                  </td>
                  <SeriesCells series={r.series} total={total} max={max} />
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">
        From <span class="mono">{exprs.topValues(metric, label)}</span>.
      </p>
    </section>
  );
}
