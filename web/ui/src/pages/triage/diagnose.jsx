// /diagnose?namespace=NS&pod=POD: walks the kubernetes-triage pack's tree
// for one pod from kube-state-metrics and cAdvisor series. Each step shows
// its verdict, the PromQL behind it and the runbook of the alert covering
// that branch.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { seriesColor } from '../../series.js';
import { autoStep } from '../../time.js';
import { Chart } from './chart.jsx';
import { activeAlerts, alertRules, gatherPod, hasKsm, namespaceNames, podList, podNames, points, range } from './data.js';
import { queryHref, sel } from './queries.js';
import { diagnosePod, fmtBytes, fmtCount } from './verdicts.js';
import { AlertStates, Empty, ErrorMsg, ParamLink, Queries, RunbookLink, StatusBadge, useAsync, useSearchParams } from './ui.jsx';
import './triage.css';

// Power-of-two byte ticks (…, 128 MiB, 256 MiB, …), as limits are written.
const BYTE_INCRS = Array.from({ length: 40 }, (_, i) => 2 ** (i + 4));

// Restarting pods first; a cluster-wide incident should not render thousands of rows.
const POD_LIST_MAX = 200;

const NO_KSM = 'No kube-state-metrics series found — is kube-state-metrics scraped? This view reads kube_pod_info, kube_pod_status_phase and kube_pod_container_status_* (and cAdvisor\u2019s container_memory_working_set_bytes).';

export function DiagnosePage() {
  const [params, navigate] = useSearchParams();
  const ns = params.get('namespace') || '';
  const pod = params.get('pod') || '';
  const ksm = useAsync((s) => hasKsm(s), []);
  const rules = useAsync((s) => alertRules(s).catch(() => new Map()), []);
  useEffect(() => {
    document.title = pod ? `Diagnose ${pod} · Strata` : 'Diagnose a pod · Strata';
  }, [pod]);
  return (
    <main class="page tri" id="diagnose">
      <div class="page-head">
        <h1>Diagnose a pod</h1>
      </div>
      <Picker ns={ns} pod={pod} navigate={navigate} />
      {ksm.error && <ErrorMsg error={ksm.error} />}
      {ksm.data === undefined && !ksm.error && <p class="muted">Loading…</p>}
      {ksm.data === false && <Empty>{NO_KSM}</Empty>}
      {ksm.data === true && pod && ns && <Diagnosis key={`${ns}/${pod}`} ns={ns} pod={pod} rules={rules.data} />}
      {ksm.data === true && <PodList ns={ns} current={pod} navigate={navigate} />}
    </main>
  );
}

function Picker({ ns, pod, navigate }) {
  const [nsIn, setNs] = useState(ns);
  const [podIn, setPod] = useState(pod);
  useEffect(() => {
    setNs(ns);
    setPod(pod);
  }, [ns, pod]);
  const namespaces = useAsync((s) => namespaceNames(s).catch(() => []), []);
  const pods = useAsync((s) => podNames(nsIn, s).catch(() => []), [nsIn]);
  const submit = (e) => {
    e.preventDefault();
    navigate({ namespace: nsIn.trim(), pod: podIn.trim() });
  };
  return (
    <form class="card tri-picker" onSubmit={submit} role="search">
      <label>
        <span>Namespace</span>
        <input list="tri-ns" value={nsIn} onInput={(e) => setNs(e.currentTarget.value)} placeholder="payments" autocomplete="off" name="namespace" />
        <datalist id="tri-ns">{(namespaces.data || []).map((n) => <option key={n} value={n} />)}</datalist>
      </label>
      <label class="grow">
        <span>Pod</span>
        <input list="tri-pods" value={podIn} onInput={(e) => setPod(e.currentTarget.value)} placeholder="pod name" autocomplete="off" name="pod" />
        <datalist id="tri-pods">{(pods.data || []).slice(0, 500).map((n) => <option key={n} value={n} />)}</datalist>
      </label>
      <button type="submit" class="btn primary" disabled={!nsIn.trim() || !podIn.trim()}>
        Diagnose
      </button>
    </form>
  );
}

function PodList({ ns, current, navigate }) {
  const st = useAsync((s) => podList(ns, s), [ns]);
  return (
    <section class="card" data-testid="pod-list">
      <div class="card-head">
        <h2>Pods to look at{ns ? ` in ${ns}` : ''}</h2>
        <span class="muted small">restarting in the last hour, not ready, pending or evicted</span>
      </div>
      {st.error && <ErrorMsg error={st.error} />}
      {!st.data && !st.error && <p class="muted">Loading…</p>}
      {st.data && st.data.pods.length === 0 && <p class="muted">No pod is restarting, unready, pending or evicted{ns ? ` in ${ns}` : ''}.</p>}
      {st.data && st.data.pods.length > 0 && (
        <div class="table-wrap">
          <table class="data tri-pods">
            <thead>
              <tr>
                <th>Pod</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {st.data.pods.slice(0, POD_LIST_MAX).map((p) => (
                <tr key={`${p.namespace}/${p.pod}`} data-testid="pod-row" aria-current={p.pod === current && p.namespace === ns ? 'true' : undefined}>
                  <td>
                    <ParamLink to={{ namespace: p.namespace, pod: p.pod }} navigate={navigate} class="mono">
                      {p.namespace}/{p.pod}
                    </ParamLink>
                  </td>
                  <td class="tri-why">
                    {p.restarts > 0 && (
                      <a class="tri-chip tri-bad" href={queryHref(st.data.queries.restarting)}>
                        {fmtCount(p.restarts)} restart{p.restarts === 1 ? '' : 's'} / 1h
                      </a>
                    )}
                    {p.notReady && (
                      <a class="tri-chip tri-warn" href={queryHref(st.data.queries.notReady)}>
                        not ready
                      </a>
                    )}
                    {p.pending && (
                      <a class="tri-chip tri-warn" href={queryHref(st.data.queries.pending)}>
                        pending
                      </a>
                    )}
                    {p.evicted && (
                      <a class="tri-chip tri-bad" href={queryHref(st.data.queries.evicted)}>
                        evicted
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {st.data.pods.length > POD_LIST_MAX && (
            <p class="muted small">
              {fmtCount(st.data.pods.length - POD_LIST_MAX)} more: pick a namespace to narrow the list.
            </p>
          )}
        </div>
      )}
    </section>
  );
}

/** Labels identifying the object a step's alert is about. */
function alertScope(step, f) {
  if (step.id === 'eviction' && step.runbook?.alert === 'KubeNodePressure') return { node: f.node };
  if (step.id === 'autoscaling') return f.hpa ? { namespace: f.ns, horizontalpodautoscaler: f.hpa.name } : null;
  return { namespace: f.ns, pod: f.pod };
}

function Diagnosis({ ns, pod, rules }) {
  const [n, setN] = useState(0);
  const st = useAsync((s) => gatherPod(ns, pod, s), [ns, pod, n]);
  const dx = useMemo(() => (st.data ? diagnosePod(st.data) : null), [st.data]);
  if (st.error) return <ErrorMsg error={st.error} />;
  if (!dx) return <p class="muted" role="status">Diagnosing {ns}/{pod}…</p>;
  const f = st.data;
  return (
    <section aria-label={`Diagnosis of ${ns}/${pod}`} data-testid="diagnosis">
      <div class={`card tri-headline tri-border-${dx.headline.status}`}>
        <div class="tri-headline-row">
          <StatusBadge status={dx.headline.status} />
          <h2 data-testid="headline">{dx.headline.text}</h2>
        </div>
        <div class="muted small">
          <span class="mono">
            {ns}/{pod}
          </span>
          {f.phase && ` · ${f.phase}`}
          {f.node && ` · node ${f.node}`}
          {f.workload && ` · ${f.workload.kind} ${f.workload.name}`}
          {' · '}
          <button type="button" class="btn tri-small-btn" onClick={() => setN((x) => x + 1)} disabled={st.loading}>
            {st.loading ? 'Refreshing…' : 'Refresh'}
          </button>
        </div>
      </div>
      {dx.found && (
        <ol class="tri-steps">
          {dx.steps.map((s) => {
            const scope = alertScope(s, f);
            const alerts = s.runbook?.alert && scope ? activeAlerts(rules, s.runbook.alert, scope) : [];
            return (
              <li key={s.id} class={`card tri-step tri-border-${s.status}`} data-testid={`step-${s.id}`}>
                <div class="tri-step-head">
                  <h3>{s.title}</h3>
                  <StatusBadge status={s.status} />
                  <AlertStates alerts={alerts} name={s.runbook?.alert} />
                </div>
                <p class="tri-verdict" data-testid="verdict">
                  {s.verdict}
                </p>
                {s.details.length > 0 && (
                  <ul class="tri-details">
                    {s.details.map((d) => (
                      <li key={d}>{d}</li>
                    ))}
                  </ul>
                )}
                {s.signals && (
                  <div class="tri-signals">
                    <h4>Connectivity failure or application bug?</h4>
                    <ul>
                      {s.signals.map((g) => (
                        <li key={g.text} class={g.points ? `tri-points-${g.points}` : ''}>
                          {g.points && <span class="tri-chip">{g.points === 'bug' ? 'bug' : 'dependency'}</span>} {g.text}
                        </li>
                      ))}
                    </ul>
                    <p class="tri-lean" data-testid="lean">
                      {s.lean.text}
                    </p>
                  </div>
                )}
                {s.graph === 'memory' && <MemoryGraph f={f} />}
                {s.graph === 'restarts' && <RestartGraph f={f} />}
                <div class="tri-step-foot">
                  {s.runbook && <RunbookLink rb={s.runbook} rules={rules} />}
                </div>
                <Queries queries={s.queries} />
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

/**
 * A range query over the last hour, zoomed to where data exists (a pod
 * younger than an hour would otherwise be a sliver at the right edge).
 */
function useRanges(exprs) {
  const key = JSON.stringify(exprs);
  return useAsync(
    async (signal) => {
      const end = Math.floor(Date.now() / 1000);
      const start = end - 3600;
      const step = autoStep(3600e3, 240);
      const results = await Promise.all(exprs.map((e) => range(e, start, end, step, signal)));
      let first = end;
      for (const r of results) for (const s of r) if (s.values?.length) first = Math.min(first, s.values[0][0]);
      return { results, start: Math.max(start, first - step), end, step };
    },
    [key],
  );
}

function MemoryGraph({ f }) {
  const p = { namespace: f.ns, pod: f.pod };
  const exprs = [
    `max by (container) (container_memory_working_set_bytes${sel([['namespace', '=', f.ns], ['pod', '=', f.pod], ['container', '!=', ''], ['container', '!=', 'POD']])})`,
    `max by (container) (kube_pod_container_resource_limits${sel({ ...p, resource: 'memory' })})`,
    ...(f.heap
      ? [
          `sum(jvm_memory_used_bytes${sel({ ...p, area: 'heap' })}) or sum(jvm_memory_bytes_used${sel({ ...p, area: 'heap' })})`,
          `sum(jvm_memory_max_bytes${sel({ ...p, area: 'heap' })} > 0) or sum(jvm_memory_bytes_max${sel({ ...p, area: 'heap' })} > 0)`,
        ]
      : []),
  ];
  const st = useRanges(exprs);
  const series = useMemo(() => {
    if (!st.data) return null;
    const [ws, lim, heapUsed, heapMax] = st.data.results;
    const out = [];
    ws.forEach((s, i) => out.push({ label: `working set ${s.metric.container || ''}`.trim(), points: points(s), color: seriesColor(i), width: 2 }));
    lim.forEach((s, i) => out.push({ label: `limit ${s.metric.container || ''}`.trim(), points: points(s), color: seriesColor(i), width: 1.5, dash: [6, 4] }));
    (heapUsed || []).forEach((s) => out.push({ label: 'JVM heap used', points: points(s), color: seriesColor(4), width: 1.5 }));
    (heapMax || []).forEach((s) => out.push({ label: 'JVM heap max', points: points(s), color: seriesColor(4), width: 1, dash: [2, 3] }));
    return out;
  }, [st.data]);
  if (st.error) return <ErrorMsg error={st.error} />;
  if (!series) return <p class="muted small">Loading the graph…</p>;
  if (series.length === 0) return <p class="muted small">No working-set or limit series to draw.</p>;
  return (
    <div class="tri-graph" data-testid="memory-graph">
      <Chart series={series} start={st.data.start} end={st.data.end} step={st.data.step} format={fmtBytes} incrs={BYTE_INCRS} label="Memory working set against its limit" />
      <Legend series={series} />
    </div>
  );
}

function RestartGraph({ f }) {
  const st = useRanges([`kube_pod_container_status_restarts_total${sel({ namespace: f.ns, pod: f.pod })}`]);
  const series = useMemo(() => (st.data ? st.data.results[0].map((s, i) => ({ label: `restarts ${s.metric.container || ''}`.trim(), points: points(s), color: seriesColor(i + 3), width: 2 })) : null), [st.data]);
  if (st.error) return <ErrorMsg error={st.error} />;
  if (!series) return <p class="muted small">Loading the graph…</p>;
  if (series.length === 0) return null;
  return (
    <div class="tri-graph" data-testid="restart-graph">
      <Chart series={series} start={st.data.start} end={st.data.end} step={st.data.step} format={(v) => fmtCount(v)} height={140} label="Restart count over time" />
      <Legend series={series} />
    </div>
  );
}

function Legend({ series }) {
  return (
    <ul class="tri-legend">
      {series.map((s) => (
        <li key={s.label}>
          <span class={s.dash ? 'tri-swatch dashed' : 'tri-swatch'} style={{ borderColor: s.color, background: s.dash ? 'transparent' : s.color }} />
          {s.label}
        </li>
      ))}
    </ul>
  );
}

