// Fetching for the triage views: instant and range queries through the
// public API, turned into the plain facts verdicts.js decides on.
import { api } from '../../api.js';
import { parseValue } from '../../series.js';
import * as Q from './queries.js';

export async function instant(query, signal, time) {
  const r = await api('query', { query, time }, { method: 'POST', signal });
  return r.data.resultType === 'vector' ? r.data.result : [];
}

export async function range(query, startSec, endSec, step, signal) {
  const r = await api('query_range', { query, start: startSec, end: endSec, step }, { method: 'POST', signal });
  return r.data.result;
}

export const val = (s) => (s && s.value ? parseValue(s.value[1]) : null);

/** Is anything from kube-state-metrics stored? (the empty state says so when not) */
export async function hasKsm(signal) {
  const r = await instant('count(kube_pod_info) or count(kube_pod_status_phase)', signal);
  return r.length > 0 && val(r[0]) > 0;
}

export async function podNames(ns, signal) {
  const m = ns ? Q.sel({ namespace: ns }) : '';
  const r = await api('label/pod/values', { 'match[]': [`kube_pod_info${m}`, `kube_pod_status_phase${m}`] }, { signal });
  return r.data;
}

export async function namespaceNames(signal) {
  const r = await api('label/namespace/values', { 'match[]': ['kube_pod_info', 'kube_pod_status_phase'] }, { signal });
  return r.data;
}

/** Pods worth a look: restarting in the last hour, not ready, pending, evicted. */
export async function podList(ns, signal) {
  const q = Q.podListQueries(ns);
  const [restarting, notReady, pending, evicted] = await Promise.all([q.restarting, q.notReady, q.pending, q.evicted].map((e) => instant(e, signal)));
  const pods = new Map();
  const get = (s) => {
    const k = `${s.metric.namespace}/${s.metric.pod}`;
    if (!pods.has(k)) pods.set(k, { namespace: s.metric.namespace, pod: s.metric.pod, restarts: 0, notReady: false, pending: false, evicted: false });
    return pods.get(k);
  };
  for (const s of restarting) get(s).restarts = Math.round(val(s));
  for (const s of notReady) get(s).notReady = true;
  for (const s of pending) get(s).pending = true;
  for (const s of evicted) get(s).evicted = true;
  return { queries: q, pods: [...pods.values()].sort((a, b) => b.restarts - a.restarts || b.pending - a.pending || (a.namespace + a.pod).localeCompare(b.namespace + b.pod)) };
}

/** Everything diagnosePod() needs about one pod. */
export async function gatherPod(ns, pod, signal) {
  const q = Q.podQueries(ns, pod);
  const keys = Object.keys(q);
  const results = await Promise.all(keys.map((k) => instant(q[k], signal)));
  const r = Object.fromEntries(keys.map((k, i) => [k, results[i]]));
  const facts = { ns, pod, found: r.info.length > 0 || r.phase.length > 0 || r.restartsTotal.length > 0 };
  const info = r.info[0]?.metric || {};
  facts.node = info.node || null;
  facts.phase = r.phase[0]?.metric.phase || null;

  const byC = new Map();
  const c = (s) => {
    const name = s.metric.container;
    if (!name) return null;
    if (!byC.has(name)) byC.set(name, { name, restarts1h: 0, restartsTotal: 0, lastReason: null, exitCode: null, waiting: null, ready: null, everReady1h: null, wsPeak: null, wsNow: null, limit: null });
    return byC.get(name);
  };
  const each = (list, fn) => list.forEach((s) => { const x = c(s); if (x) fn(x, s); });
  each(r.restartsTotal, (x, s) => (x.restartsTotal = val(s)));
  each(r.restarts1h, (x, s) => (x.restarts1h = val(s)));
  each(r.lastReason, (x, s) => (x.lastReason = s.metric.reason));
  each(r.exitCode, (x, s) => (x.exitCode = val(s)));
  each(r.waiting, (x, s) => (x.waiting = s.metric.reason));
  each(r.ready, (x, s) => (x.ready = val(s)));
  each(r.everReady1h, (x, s) => (x.everReady1h = val(s)));
  each(r.wsPeak, (x, s) => (x.wsPeak = val(s)));
  each(r.wsNow, (x, s) => (x.wsNow = val(s)));
  each(r.limit, (x, s) => (x.limit = val(s)));
  facts.containers = [...byC.values()].sort((a, b) => a.name.localeCompare(b.name));
  facts.evicted = r.evicted.length > 0;
  facts.unschedulable = r.unschedulable.some((s) => val(s) === 1);
  facts.probes = null;
  if (r.probes.length > 0) {
    facts.probes = {};
    for (const s of r.probes) facts.probes[s.metric.probe_type || 'unknown'] = (facts.probes[s.metric.probe_type || 'unknown'] || 0) + val(s);
  }

  // The JVM heap ratio, peak over the last hour from a range query.
  facts.heap = null;
  {
    const end = Math.floor(Date.now() / 1000);
    const hr = await range(q.heap, end - 3600, end, 30, signal);
    const vs = (hr[0]?.values || []).map(([, v]) => parseValue(v)).filter(Number.isFinite);
    if (vs.length > 0) facts.heap = { peak: Math.max(...vs), now: vs[vs.length - 1] };
  }

  const own = r.owner[0]?.metric;
  facts.owner = own && own.owner_kind && own.owner_kind !== '<none>' ? { kind: own.owner_kind, name: own.owner_name } : null;
  facts.workload = facts.owner;
  const second = [];
  if (facts.owner && facts.owner.kind === 'ReplicaSet') {
    second.push(
      instant(Q.replicasetOwnerQuery(ns, facts.owner.name), signal).then((rs) => {
        const m = rs[0]?.metric;
        if (m && m.owner_kind && m.owner_kind !== '<none>') facts.workload = { kind: m.owner_kind, name: m.owner_name };
      }),
    );
  }
  facts.pressure = [];
  if (facts.node) {
    const nq = Q.nodeQueries(facts.node);
    second.push(
      Promise.all([instant(nq.pressure1h, signal), instant(nq.pressureNow, signal)]).then(([hour, now]) => {
        const nowSet = new Set(now.map((s) => s.metric.condition));
        facts.pressure = hour.map((s) => ({ condition: s.metric.condition, now: nowSet.has(s.metric.condition) }));
      }),
    );
  }
  facts.zones = undefined;
  if (facts.unschedulable || facts.phase === 'Pending') {
    second.push(
      Promise.all([instant(Q.zoneQuery(), signal), instant(Q.cordonedByZoneQuery(), signal)]).then(([zs, cordoned]) => {
        const zoneOf = (m) => Q.ZONE_LABELS.map((l) => m[l]).find(Boolean);
        if (zs.length === 0) facts.zones = [];
        else if (zs.every((s) => !zoneOf(s.metric))) facts.zones = null;
        else {
          const cmap = new Map(cordoned.map((s) => [zoneOf(s.metric), val(s)]));
          facts.zones = zs.filter((s) => zoneOf(s.metric)).map((s) => ({ zone: zoneOf(s.metric), nodes: val(s), cordoned: cmap.get(zoneOf(s.metric)) || 0 })).sort((a, b) => a.zone.localeCompare(b.zone));
        }
      }),
    );
  }
  await Promise.all(second);

  // Third: what needs the workload — its autoscalers, its images, and
  // whether other workloads restart too.
  facts.hpa = null;
  facts.vpas = [];
  facts.images = null;
  facts.otherRestarts = null;
  const third = [
    instant(Q.otherRestartsQuery(pod, facts.workload), signal).then((rs) => {
      facts.otherRestarts = { pods: rs.length, namespaces: new Set(rs.map((s) => s.metric.namespace)).size };
    }),
  ];
  if (facts.workload) {
    const w = facts.workload;
    const hq = Q.hpaQueries(ns, w.kind, w.name);
    third.push(
      Promise.all([hq.current, hq.desired, hq.min, hq.max, hq.targets, hq.vpa].map((e) => instant(e, signal))).then(([cur, des, min, max, targets, vpa]) => {
        const name = cur[0]?.metric.horizontalpodautoscaler || max[0]?.metric.horizontalpodautoscaler;
        if (name) {
          const pick = (list) => {
            const s = list.find((x) => x.metric.horizontalpodautoscaler === name);
            return s ? val(s) : null;
          };
          facts.hpa = {
            name,
            current: pick(cur),
            desired: pick(des),
            min: pick(min),
            max: pick(max),
            metrics: [...new Set(targets.filter((x) => x.metric.horizontalpodautoscaler === name).map((x) => x.metric.metric_name).filter(Boolean))],
          };
        }
        facts.vpas = vpa.map((s) => ({ name: s.metric.verticalpodautoscaler || s.metric.customresource_name || '?', mode: s.metric.update_mode }));
      }),
      instant(Q.workloadImagesQuery(ns, w), signal).then((rs) => {
        facts.images = rs.map((s) => s.metric.image).filter(Boolean).sort();
      }),
    );
  }
  await Promise.all(third);
  return facts;
}

/** The rule packs' alerting rules by name: runbook URL, state, active alerts. */
export async function alertRules(signal) {
  const r = await api('rules', { type: 'alert' }, { signal });
  const out = new Map();
  for (const g of r.data.groups) {
    for (const rule of g.rules) {
      if (rule.type !== 'alerting' && rule.type !== undefined) continue;
      if (!out.has(rule.name)) out.set(rule.name, { runbook: rule.annotations?.runbook_url || null, file: g.file, alerts: [] });
      out.get(rule.name).alerts.push(...(rule.alerts || []));
    }
  }
  return out;
}

/** A runbook descriptor ({pack, alert} or {pack, anchor}) → URL, the loaded pack's own first. */
export function runbookUrl(rb, rules) {
  if (!rb) return null;
  if (rb.alert && rules && rules.get(rb.alert)?.runbook) return rules.get(rb.alert).runbook;
  return `${Q.RUNBOOK_BASE}${rb.pack}.md#${(rb.alert || rb.anchor).toLowerCase()}`;
}

/** The active alerts of `alertname` whose labels match `labels` (e.g. namespace and pod). */
export function activeAlerts(rules, alertname, labels) {
  const r = rules && rules.get(alertname);
  if (!r) return [];
  return r.alerts.filter((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v));
}

/** Range series as [[tSec, number], ...]. */
export const points = (s) => (s.values || []).map(([t, v]) => [t, parseValue(v)]).filter(([, v]) => Number.isFinite(v));
