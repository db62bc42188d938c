// The PromQL behind the triage views, built from the metric names and
// expressions the shipped rule packs use (rules/kubernetes-triage.yml,
// rules/kafka.yml), so what a view says and what the alerts say agree.
// Pure: no fetching, so node's tests import it too.
import { href } from '../../paths.js';

/** A PromQL string literal. JSON's escapes are a subset of PromQL's. */
export const str = (v) => JSON.stringify(String(v));

/** `{a="x", b=~"y"}` from [[name, op, value], ...] or {name: value}. */
export function sel(matchers) {
  const list = Array.isArray(matchers) ? matchers : Object.entries(matchers).map(([k, v]) => [k, '=', v]);
  return `{${list.map(([k, op, v]) => `${k}${op}${str(v)}`).join(', ')}}`;
}

/** Escapes a literal for use inside a regex matcher. */
export const reQuote = (s) => String(s).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const RUNBOOK_BASE = 'https://github.com/strata-metrics/strata/blob/main/docs/runbooks/';

/** The pack's own URL pattern, used when the pack is not loaded. */
export function fallbackRunbook(pack, alertname) {
  return `${RUNBOOK_BASE}${pack}.md#${alertname.toLowerCase()}`;
}

/** /query link opening `expr` on the graph tab. */
export function queryHref(expr, range = '1h') {
  return href(`/query?${new URLSearchParams({ 'g0.expr': expr, 'g0.tab': 'graph', 'g0.range_input': range })}`);
}

/** Everything the diagnose view asks about one pod (instant queries). */
export function podQueries(ns, pod) {
  const p = sel({ namespace: ns, pod });
  const np = (extra) => sel([['namespace', '=', ns], ['pod', '=', pod], ...extra]);
  return {
    info: `kube_pod_info${p}`,
    phase: `kube_pod_status_phase${p} == 1`,
    restarts1h: `increase(kube_pod_container_status_restarts_total${p}[1h])`,
    restartsTotal: `kube_pod_container_status_restarts_total${p}`,
    lastReason: `kube_pod_container_status_last_terminated_reason${p} == 1`,
    exitCode: `kube_pod_container_status_last_terminated_exitcode${p}`,
    // As KubePodCrashLooping: max_over_time bridges the moments the
    // container runs between back-off waits.
    waiting: `max_over_time(kube_pod_container_status_waiting_reason${p}[5m]) == 1`,
    ready: `kube_pod_container_status_ready${p}`,
    everReady1h: `max_over_time(kube_pod_container_status_ready${p}[1h])`,
    wsPeak: `max by (container) (max_over_time(container_memory_working_set_bytes${np([['container', '!=', ''], ['container', '!=', 'POD']])}[1h]))`,
    wsNow: `max by (container) (container_memory_working_set_bytes${np([['container', '!=', ''], ['container', '!=', 'POD']])})`,
    limit: `max by (container) (kube_pod_container_resource_limits${np([['resource', '=', 'memory']])})`,
    heap: heapRatio(ns, pod),
    evicted: `kube_pod_status_reason${np([['reason', '=', 'Evicted']])} == 1`,
    unschedulable: `kube_pod_status_unschedulable${p}`,
    owner: `kube_pod_owner${p}`,
    images: `kube_pod_container_info${p}`,
    probes: `sum by (container, probe_type) (increase(prober_probe_total${np([['result', '=', 'failed']])}[1h]))`,
  };
}

/**
 * Heap used over heap max, for both client_java spellings, as the pack's
 * namespace_pod:jvm_memory_used_bytes:heap_ratio (computed here so the
 * view works without the pack).
 */
export function heapRatio(ns, pod) {
  const h = sel({ namespace: ns, pod, area: 'heap' });
  return (
    `(sum(jvm_memory_used_bytes${h}) / sum(jvm_memory_max_bytes${h} > 0))` +
    ` or (sum(jvm_memory_bytes_used${h}) / sum(jvm_memory_bytes_max${h} > 0))`
  );
}

export const PRESSURE = 'MemoryPressure|DiskPressure|PIDPressure';

export function nodeQueries(node) {
  const c = sel([['node', '=', node], ['condition', '=~', PRESSURE], ['status', '=', 'true']]);
  return {
    pressureNow: `kube_node_status_condition${c} == 1`,
    pressure1h: `max_over_time(kube_node_status_condition${c}[1h]) == 1`,
  };
}

export const ZONE_LABELS = ['label_topology_kubernetes_io_zone', 'label_failure_domain_beta_kubernetes_io_zone'];

export const zoneQuery = () => `count by (${ZONE_LABELS.join(', ')}) (kube_node_labels)`;
export const cordonedByZoneQuery = () =>
  `count by (${ZONE_LABELS.join(', ')}) (kube_node_labels and on (node) (kube_node_spec_unschedulable == 1))`;

/**
 * A regex for the names of a workload's pods, from how controllers name
 * them: Deployment `<name>-<template hash>-<suffix>`, StatefulSet
 * `<name>-<ordinal>`, others `<name>-<suffix>`. Tighter than the runbook's
 * `<name>-.*`, which would also take `<name>-writer-…` pods.
 */
export function workloadPodRegex(w) {
  const n = reQuote(w.name);
  if (w.kind === 'Deployment') return `${n}-[a-z0-9]+-[a-z0-9]+`;
  if (w.kind === 'StatefulSet') return `${n}-[0-9]+`;
  if (w.kind === 'ReplicaSet' || w.kind === 'DaemonSet') return `${n}-[a-z0-9]+`;
  return `${n}-.*`;
}

/**
 * Pods of other workloads that also restarted after exiting with an error
 * (reason Error: a non-zero exit that is not an OOM kill) in the last 15
 * minutes: several at once hint at a shared dependency.
 */
export function otherRestartsQuery(pod, workload) {
  const not = workload ? ['pod', '!~', workloadPodRegex(workload)] : ['pod', '!=', pod];
  return (
    `(sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total${sel([not])}[15m])) > 0)` +
    ` and on (namespace, pod) (max by (namespace, pod) (kube_pod_container_status_last_terminated_reason{reason="Error"}) == 1)`
  );
}

/** The runbook's "is a new version rolling out?": the images among the workload's pods. */
export function workloadImagesQuery(ns, workload) {
  return `count by (image) (kube_pod_container_info${sel([['namespace', '=', ns], ['pod', '=~', workloadPodRegex(workload)]])})`;
}

export function replicasetOwnerQuery(ns, rs) {
  return `kube_replicaset_owner${sel({ namespace: ns, replicaset: rs })}`;
}

export function hpaQueries(ns, kind, name) {
  const t = sel({ namespace: ns, scaletargetref_kind: kind, scaletargetref_name: name });
  // The HPA's numbers joined onto the info series that names its target.
  const of = (m) => `${m}${sel({ namespace: ns })} and on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_info${t}`;
  return {
    current: of('kube_horizontalpodautoscaler_status_current_replicas'),
    desired: of('kube_horizontalpodautoscaler_status_desired_replicas'),
    min: of('kube_horizontalpodautoscaler_spec_min_replicas'),
    max: of('kube_horizontalpodautoscaler_spec_max_replicas'),
    targets: of('kube_horizontalpodautoscaler_spec_target_metric'),
    vpa: `{__name__=~"kube_verticalpodautoscaler_spec_updatepolicy_updatemode|kube_customresource_verticalpodautoscaler_spec_updatepolicy_updatemode", ${sel({ namespace: ns, target_kind: kind, target_name: name }).slice(1, -1)}} == 1`,
  };
}

/** The pod list: restarting (increase over the last hour), not ready, pending, evicted. */
export function podListQueries(ns) {
  const m = ns ? sel({ namespace: ns }) : '';
  const mr = (extra) => sel([...(ns ? [['namespace', '=', ns]] : []), ...extra]);
  return {
    restarting: `sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total${m}[1h])) > 0`,
    notReady: `(max by (namespace, pod) (kube_pod_status_ready${mr([['condition', '=', 'true']])}) == 0) unless on (namespace, pod) (kube_pod_status_phase${mr([['phase', '=~', 'Succeeded|Failed']])} == 1)`,
    pending: `max by (namespace, pod) (kube_pod_status_phase${mr([['phase', '=', 'Pending']])}) == 1`,
    evicted: `max by (namespace, pod) (kube_pod_status_reason${mr([['reason', '=', 'Evicted']])}) == 1`,
  };
}

// --- Kafka

export function lagQueries(group) {
  const g = sel({ consumergroup: group });
  return {
    partitions: `kafka_consumergroup_lag${g}`,
    // KafkaConsumerGroupLagGrowing's input: the pack records it; without
    // the pack the same expression is evaluated as a subquery.
    sum: `sum without (partition) (kafka_consumergroup_lag${g})`,
    derivRecorded: `consumergroup_topic:kafka_consumergroup_lag:deriv10m${g}`,
    derivInline: (step) => `deriv(sum without (partition) (kafka_consumergroup_lag${g})[10m:${step}s])`,
    members: `kafka_consumergroup_members${g}`,
  };
}
