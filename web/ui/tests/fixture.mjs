// The e2e test's fake Kubernetes and Kafka: one HTTP target serving
// kube-state-metrics, cAdvisor, a JVM exporter and kafka_exporter shapes in
// the text exposition format. Values move with the number of scrapes served
// (restart counters rise, one partition's lag grows, a deploy spike rises
// and drains), so rates and the rule packs' alerts see real change.
//
// The cluster (namespace payments):
//   ledger-6c8f9d7b5-x2x7k               OOMKilled (exit 137), working set at its 512 MiB
//                                        limit, JVM heap at 78%; HPA ledger at its max 6/6
//   settlements-processor-5f7d8c9b4-q8zvn CrashLoopBackOff, exit 1, never ready; image
//                                        2.5.0 while the other pod of the Deployment runs 2.4.0
//   settlements-processor-7b9c6d5f8-m4kq2 healthy
//   risk-api-7c9d8f6b5-4jx2p             Pending, unschedulable (no node)
//   report-builder-28374650-x7k2p        Evicted from node-c under DiskPressure
// Nodes node-a (eu-west-1a), node-b and node-c (eu-west-1b).
// Kafka groups on topic payment-events (6 partitions):
//   settlements-processor  partition 3 grows 40 messages per scrape, the others idle
//   ledger-writer          a deploy spike: rises for 10 scrapes, drains for 15, then flat
//   audit-archiver         caught up (lag 0)
import { createServer } from 'node:http';

export const NS = 'payments';
export const PODS = {
  oom: 'ledger-6c8f9d7b5-x2x7k',
  crash: 'settlements-processor-5f7d8c9b4-q8zvn',
  healthy: 'settlements-processor-7b9c6d5f8-m4kq2',
  pending: 'risk-api-7c9d8f6b5-4jx2p',
  evicted: 'report-builder-28374650-x7k2p',
};
export const HOT_GROUP = 'settlements-processor';
export const HOT_PARTITION = '3';
export const SPIKE_GROUP = 'ledger-writer';
export const IDLE_GROUP = 'audit-archiver';
export const PARTITIONS = 6;
/** Scrapes after which the spike group has drained to its flat level. */
export const SPIKE_DONE = 25;

const MiB = 1024 * 1024;

function labels(o) {
  return `{${Object.entries(o)
    .map(([k, v]) => `${k}=${JSON.stringify(String(v))}`)
    .join(',')}}`;
}

/** Per-partition lag of the spike group after n scrapes. */
export function spikeLag(n) {
  if (n < 10) return n * 200;
  if (n < SPIKE_DONE) return Math.max(40, 2000 - (n - 10) * 140);
  return 40 + (n % 2) * 4;
}

export function exposition(n) {
  const out = [];
  const m = (name, l, v) => out.push(`${name}${labels(l)} ${v}`);
  const type = (name, t) => out.push(`# TYPE ${name} ${t}`);
  const pods = [
    { pod: PODS.oom, node: 'node-a', rs: 'ledger-6c8f9d7b5', deploy: 'ledger', phase: 'Running', container: 'ledger', image: 'registry.example/ledger:3.1.0', ready: 1 },
    { pod: PODS.crash, node: 'node-b', rs: 'settlements-processor-5f7d8c9b4', deploy: 'settlements-processor', phase: 'Running', container: 'processor', image: 'registry.example/settlements-processor:2.5.0', ready: 0 },
    { pod: PODS.healthy, node: 'node-a', rs: 'settlements-processor-7b9c6d5f8', deploy: 'settlements-processor', phase: 'Running', container: 'processor', image: 'registry.example/settlements-processor:2.4.0', ready: 1 },
    { pod: PODS.pending, node: '', rs: 'risk-api-7c9d8f6b5', deploy: 'risk-api', phase: 'Pending', container: null, ready: 0 },
    { pod: PODS.evicted, node: 'node-c', job: 'report-builder-28374650', phase: 'Failed', container: 'report', image: 'registry.example/report-builder:1.0.2', ready: 0 },
  ];
  const restarts = { [PODS.oom]: 2 + Math.floor(n / 8), [PODS.crash]: 3 + Math.floor(n / 5), [PODS.healthy]: 0, [PODS.evicted]: 0 };

  type('kube_pod_info', 'gauge');
  for (const p of pods) m('kube_pod_info', { namespace: NS, pod: p.pod, node: p.node, created_by_kind: p.rs ? 'ReplicaSet' : 'Job', created_by_name: p.rs || p.job, host_ip: '', pod_ip: '', uid: `uid-${p.pod}` }, 1);
  type('kube_pod_owner', 'gauge');
  for (const p of pods) m('kube_pod_owner', { namespace: NS, pod: p.pod, owner_kind: p.rs ? 'ReplicaSet' : 'Job', owner_name: p.rs || p.job, owner_is_controller: 'true' }, 1);
  type('kube_replicaset_owner', 'gauge');
  for (const rs of new Set(pods.filter((p) => p.rs).map((p) => `${p.rs} ${p.deploy}`))) {
    const [replicaset, deploy] = rs.split(' ');
    m('kube_replicaset_owner', { namespace: NS, replicaset, owner_kind: 'Deployment', owner_name: deploy, owner_is_controller: 'true' }, 1);
  }
  type('kube_pod_status_phase', 'gauge');
  for (const p of pods) for (const ph of ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']) m('kube_pod_status_phase', { namespace: NS, pod: p.pod, phase: ph }, p.phase === ph ? 1 : 0);
  type('kube_pod_status_ready', 'gauge');
  for (const p of pods) for (const c of ['true', 'false', 'unknown']) m('kube_pod_status_ready', { namespace: NS, pod: p.pod, condition: c }, (c === 'true') === (p.ready === 1) && c !== 'unknown' ? 1 : 0);
  type('kube_pod_status_reason', 'gauge');
  for (const p of pods) m('kube_pod_status_reason', { namespace: NS, pod: p.pod, reason: 'Evicted' }, p.pod === PODS.evicted ? 1 : 0);
  type('kube_pod_status_unschedulable', 'gauge');
  m('kube_pod_status_unschedulable', { namespace: NS, pod: PODS.pending }, 1);

  type('kube_pod_container_status_restarts_total', 'counter');
  for (const p of pods) if (p.container) m('kube_pod_container_status_restarts_total', { namespace: NS, pod: p.pod, container: p.container }, restarts[p.pod]);
  type('kube_pod_container_status_ready', 'gauge');
  for (const p of pods) if (p.container) m('kube_pod_container_status_ready', { namespace: NS, pod: p.pod, container: p.container }, p.ready);
  type('kube_pod_container_info', 'gauge');
  for (const p of pods) if (p.container) m('kube_pod_container_info', { namespace: NS, pod: p.pod, container: p.container, image: p.image, image_id: '', container_id: '' }, 1);
  type('kube_pod_container_status_last_terminated_reason', 'gauge');
  m('kube_pod_container_status_last_terminated_reason', { namespace: NS, pod: PODS.oom, container: 'ledger', reason: 'OOMKilled' }, 1);
  m('kube_pod_container_status_last_terminated_reason', { namespace: NS, pod: PODS.crash, container: 'processor', reason: 'Error' }, 1);
  type('kube_pod_container_status_last_terminated_exitcode', 'gauge');
  m('kube_pod_container_status_last_terminated_exitcode', { namespace: NS, pod: PODS.oom, container: 'ledger' }, 137);
  m('kube_pod_container_status_last_terminated_exitcode', { namespace: NS, pod: PODS.crash, container: 'processor' }, 1);
  type('kube_pod_container_status_waiting_reason', 'gauge');
  m('kube_pod_container_status_waiting_reason', { namespace: NS, pod: PODS.crash, container: 'processor', reason: 'CrashLoopBackOff' }, 1);
  type('kube_pod_container_resource_limits', 'gauge');
  m('kube_pod_container_resource_limits', { namespace: NS, pod: PODS.oom, container: 'ledger', node: 'node-a', resource: 'memory', unit: 'byte' }, 512 * MiB);
  m('kube_pod_container_resource_limits', { namespace: NS, pod: PODS.crash, container: 'processor', node: 'node-b', resource: 'memory', unit: 'byte' }, 1024 * MiB);
  m('kube_pod_container_resource_limits', { namespace: NS, pod: PODS.healthy, container: 'processor', node: 'node-a', resource: 'memory', unit: 'byte' }, 1024 * MiB);

  const nodes = [
    { node: 'node-a', zone: 'eu-west-1a', pressure: null },
    { node: 'node-b', zone: 'eu-west-1b', pressure: null },
    { node: 'node-c', zone: 'eu-west-1b', pressure: 'DiskPressure' },
  ];
  type('kube_node_labels', 'gauge');
  for (const nd of nodes) m('kube_node_labels', { node: nd.node, label_topology_kubernetes_io_zone: nd.zone }, 1);
  type('kube_node_spec_unschedulable', 'gauge');
  for (const nd of nodes) m('kube_node_spec_unschedulable', { node: nd.node }, 0);
  type('kube_node_status_condition', 'gauge');
  for (const nd of nodes) {
    for (const cond of ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) {
      const on = cond === 'Ready' || cond === nd.pressure;
      for (const st of ['true', 'false', 'unknown']) m('kube_node_status_condition', { node: nd.node, condition: cond, status: st }, (st === 'true' && on) || (st === 'false' && !on) ? 1 : 0);
    }
  }

  type('kube_horizontalpodautoscaler_info', 'gauge');
  const hpas = [
    { name: 'ledger', target: 'ledger', cur: 6, des: 6, min: 2, max: 6 },
    { name: 'keda-hpa-settlements-processor', target: 'settlements-processor', cur: 2, des: 2, min: 1, max: 6 },
  ];
  for (const h of hpas) m('kube_horizontalpodautoscaler_info', { namespace: NS, horizontalpodautoscaler: h.name, scaletargetref_api_version: 'apps/v1', scaletargetref_kind: 'Deployment', scaletargetref_name: h.target }, 1);
  for (const [metric, key] of [
    ['kube_horizontalpodautoscaler_status_current_replicas', 'cur'],
    ['kube_horizontalpodautoscaler_status_desired_replicas', 'des'],
    ['kube_horizontalpodautoscaler_spec_min_replicas', 'min'],
    ['kube_horizontalpodautoscaler_spec_max_replicas', 'max'],
  ]) {
    type(metric, 'gauge');
    for (const h of hpas) m(metric, { namespace: NS, horizontalpodautoscaler: h.name }, h[key]);
  }
  type('kube_horizontalpodautoscaler_spec_target_metric', 'gauge');
  m('kube_horizontalpodautoscaler_spec_target_metric', { namespace: NS, horizontalpodautoscaler: 'ledger', metric_name: 'cpu', metric_target_type: 'utilization' }, 70);

  // cAdvisor: the OOM pod's working set touches its limit every 4th scrape.
  type('container_memory_working_set_bytes', 'gauge');
  m('container_memory_working_set_bytes', { namespace: NS, pod: PODS.oom, container: 'ledger', id: '/kubepods/ledger', image: 'registry.example/ledger:3.1.0', name: 'ledger' }, n % 4 === 0 ? 512 * MiB : (470 + (n % 4) * 10) * MiB);
  m('container_memory_working_set_bytes', { namespace: NS, pod: PODS.oom, container: 'POD', id: '/kubepods/pause', image: 'pause', name: 'pause' }, 1 * MiB);
  m('container_memory_working_set_bytes', { namespace: NS, pod: PODS.crash, container: 'processor', id: '/kubepods/proc', image: 'registry.example/settlements-processor:2.5.0', name: 'processor' }, (110 + (n % 3) * 5) * MiB);
  m('container_memory_working_set_bytes', { namespace: NS, pod: PODS.healthy, container: 'processor', id: '/kubepods/proc2', image: 'registry.example/settlements-processor:2.4.0', name: 'processor' }, 300 * MiB);

  // client_java 0.x spelling, with the pod's labels as a PodMonitor adds them.
  type('jvm_memory_bytes_used', 'gauge');
  m('jvm_memory_bytes_used', { namespace: NS, pod: PODS.oom, area: 'heap' }, (280 + (n % 3) * 10) * MiB);
  m('jvm_memory_bytes_used', { namespace: NS, pod: PODS.oom, area: 'nonheap' }, 120 * MiB);
  type('jvm_memory_bytes_max', 'gauge');
  m('jvm_memory_bytes_max', { namespace: NS, pod: PODS.oom, area: 'heap' }, 384 * MiB);
  m('jvm_memory_bytes_max', { namespace: NS, pod: PODS.oom, area: 'nonheap' }, -1);

  // kafka_exporter.
  type('kafka_consumergroup_lag', 'gauge');
  for (let p = 0; p < PARTITIONS; p++) {
    m('kafka_consumergroup_lag', { consumergroup: HOT_GROUP, topic: 'payment-events', partition: p }, String(p) === HOT_PARTITION ? 200 + 40 * n : 10 + ((n + p) % 4) * 5);
    m('kafka_consumergroup_lag', { consumergroup: SPIKE_GROUP, topic: 'payment-events', partition: p }, spikeLag(n) + p);
    m('kafka_consumergroup_lag', { consumergroup: IDLE_GROUP, topic: 'payment-events', partition: p }, 0);
  }
  type('kafka_consumergroup_members', 'gauge');
  m('kafka_consumergroup_members', { consumergroup: HOT_GROUP }, 2);
  m('kafka_consumergroup_members', { consumergroup: SPIKE_GROUP }, 3);
  m('kafka_consumergroup_members', { consumergroup: IDLE_GROUP }, 1);
  type('kafka_topic_partitions', 'gauge');
  m('kafka_topic_partitions', { topic: 'payment-events' }, PARTITIONS);
  return `${out.join('\n')}\n`;
}

/** Starts the target on a free loopback port: {port, scrapes(), close()}. */
export async function startFixture() {
  let n = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const body = exposition(n++);
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, scrapes: () => n, close: () => new Promise((r) => {
      server.close(r);
      server.closeAllConnections();
    }),
  };
}
