// Unit tests of the triage views' decisions (src/pages/triage/verdicts.js)
// against fixed inputs: the cases a short browser test cannot produce
// (15 minutes of lag growth, a drained spike, JVM heap OOM, evictions, HPA
// conflicts) and the exact wording the e2e test looks for.
//
//   node --test web/ui/tests/verdicts.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnosePod, exitMeaning, fmtBytes, lagVerdict, rankPartitions, zoneHints } from '../src/pages/triage/verdicts.js';
import { podQueries, queryHref, sel, workloadPodRegex } from '../src/pages/triage/queries.js';
import { activeAlerts, runbookUrl } from '../src/pages/triage/data.js';

const MiB = 1024 * 1024;
const T0 = 1_700_000_000;

/** Points every `step` seconds from T0 over `sec` seconds, value fn(t since T0). */
function series(sec, step, fn) {
  const out = [];
  for (let t = 0; t <= sec; t += step) out.push([T0 + t, fn(t)]);
  return out;
}

// --- Kafka lag verdict

test('lag growing for 15+ minutes is "growing", as the alert would fire', () => {
  const lag = series(1800, 15, (t) => 1000 + t * 5);
  const deriv = series(1800, 15, () => 5);
  const v = lagVerdict({ lag, deriv, step: 15, partitions: 6 });
  assert.equal(v.kind, 'growing');
  assert.match(v.text, /^Growing for 15\+ minutes: \+5\.0 messages\/s, 10,000 behind$/);
});

test('14 minutes of growth is still "rising", not growing', () => {
  // Flat then rising: the positive run is 14 minutes long.
  const lag = series(1800, 15, (t) => (t < 960 ? 500 : 500 + (t - 960) * 3));
  const deriv = series(1800, 15, (t) => (t < 960 ? 0 : 3));
  const v = lagVerdict({ lag, deriv, step: 15, partitions: 6 });
  assert.equal(v.kind, 'rising');
  assert.match(v.text, /^Rising for 14 min \(\+3\.0 messages\/s/);
});

test('a negative point resets the run, as it resets the pending alert', () => {
  const deriv = series(1800, 15, (t) => (t === 1200 ? -1 : 2));
  const lag = series(1800, 15, (t) => 100 + t);
  const v = lagVerdict({ lag, deriv, step: 15, partitions: 3 });
  assert.equal(v.kind, 'rising');
  assert.match(v.text, /^Rising for 10 min/);
});

test('a gap in the slope series resets the run', () => {
  const deriv = series(1800, 15, () => 2).filter(([t]) => t < T0 + 1000 || t > T0 + 1100);
  const lag = series(1800, 15, (t) => 100 + t);
  assert.equal(lagVerdict({ lag, deriv, step: 15, partitions: 3 }).kind, 'rising');
});

test('the firing alert wins over a short window', () => {
  const v = lagVerdict({ lag: [[T0, 5000]], deriv: [[T0, 1]], step: 15, partitions: 1, alert: { state: 'firing' } });
  assert.equal(v.kind, 'growing');
});

test('a pending alert dates the rise from its activeAt', () => {
  const lag = series(120, 15, (t) => 100 + t);
  const deriv = series(120, 15, () => 1);
  const v = lagVerdict({ lag, deriv, step: 15, partitions: 1, alert: { state: 'pending', activeAt: (T0 + 120 - 540) * 1000 } });
  assert.equal(v.kind, 'rising');
  assert.match(v.text, /^Rising for 9 min/);
});

test('a deploy spike that rose and now drains is "spike", not growing', () => {
  // Rises for 5 minutes, drains for 10: the slope turns negative.
  const lag = series(1800, 15, (t) => (t < 900 ? 50 : t < 1200 ? 50 + (t - 900) * 10 : Math.max(400, 3050 - (t - 1200) * 6)));
  const deriv = series(1800, 15, (t) => (t < 900 ? 0 : t < 1320 ? 8 : -4));
  const v = lagVerdict({ lag, deriv, step: 15, partitions: 6 });
  assert.equal(v.kind, 'spike');
  assert.match(v.text, /^Deploy spike, draining: lag peaked 10 min ago at 3,050 and is falling \(400 now\)$/);
});

test('a drained spike back to zero is "caught up"', () => {
  const lag = series(1800, 15, (t) => (t < 1200 ? (t > 900 ? 2000 : 0) : 0));
  const deriv = series(1800, 15, (t) => (t > 900 && t < 1300 ? 5 : -3));
  const v = lagVerdict({ lag, deriv, step: 15, partitions: 6 });
  assert.equal(v.kind, 'caught-up');
  assert.equal(v.text, 'Caught up: no lag');
});

test('a few messages per partition is caught up; a flat backlog is steady', () => {
  assert.equal(lagVerdict({ lag: series(600, 15, () => 40), deriv: series(600, 15, () => 0), step: 15, partitions: 6 }).kind, 'caught-up');
  const steady = lagVerdict({ lag: series(600, 15, () => 4000), deriv: series(600, 15, () => -0.01), step: 15, partitions: 6 });
  assert.equal(steady.kind, 'steady');
  assert.match(steady.text, /^Steady: 4,000 behind, not growing/);
});

test('no samples is no data', () => {
  assert.equal(lagVerdict({ lag: [], deriv: [], step: 15 }).kind, 'nodata');
});

// --- Hot partition

test('one partition far ahead of the others is the hot one', () => {
  const parts = [0, 1, 2, 3, 4, 5].map((p) => ({ partition: String(p), values: series(900, 15, (t) => (p === 3 ? 100 + t * 2 : 20 + (p % 2) * 5)) }));
  const r = rankPartitions(parts);
  assert.equal(r.hot, '3');
  assert.equal(r.ranked[0].partition, '3');
  assert.equal(r.ranked[0].growth, 1200);
  assert.match(r.reason, /^Hot partition 3: 1,900 behind, \d+\.\d× the median of the others, \+1,200 in the last 10 min/);
});

test('evenly spread lag has no hot partition', () => {
  const parts = [0, 1, 2, 3].map((p) => ({ partition: String(p), values: [[T0, 1000 + p * 50]] }));
  const r = rankPartitions(parts);
  assert.equal(r.hot, null);
  assert.match(r.reason, /spread over the partitions/);
});

test('small even lag has no hot partition and no spread warning', () => {
  const r = rankPartitions([0, 1, 2].map((p) => ({ partition: String(p), values: [[T0, 5 + p]] })));
  assert.equal(r.hot, null);
  assert.equal(r.reason, 'No partition stands out.');
});

test('partitions rank numerically on ties', () => {
  const parts = ['10', '2', '1'].map((p) => ({ partition: p, values: [[T0, 0]] }));
  assert.deepEqual(rankPartitions(parts).ranked.map((r) => r.partition), ['1', '2', '10']);
});

// --- Diagnose a pod

function pod(overrides = {}, container = {}) {
  return {
    ns: 'payments',
    pod: 'p-1',
    found: true,
    node: 'node-a',
    phase: 'Running',
    containers: [{ name: 'app', restarts1h: 0, restartsTotal: 0, lastReason: null, exitCode: null, waiting: null, ready: 1, everReady1h: 1, wsPeak: 100 * MiB, wsNow: 90 * MiB, limit: 512 * MiB, ...container }],
    evicted: false,
    unschedulable: false,
    pressure: [],
    zones: undefined,
    owner: { kind: 'ReplicaSet', name: 'p-5d8f' },
    workload: { kind: 'Deployment', name: 'p' },
    hpa: null,
    vpas: [],
    images: ['p:1'],
    otherRestarts: { pods: 0, namespaces: 0 },
    probes: null,
    heap: null,
    ...overrides,
  };
}
const step = (dx, id) => dx.steps.find((s) => s.id === id);

test('OOMKilled at the limit: the brief\'s wording, and the kernel-vs-heap step', () => {
  const dx = diagnosePod(pod({ heap: { peak: 0.78, now: 0.6 } }, { restarts1h: 3, lastReason: 'OOMKilled', exitCode: 137, wsPeak: 512 * MiB, wsNow: 480 * MiB }));
  assert.equal(dx.headline.text, 'OOMKilled: memory working set reached its 512 MiB limit');
  assert.equal(step(dx, 'termination').runbook.alert, 'KubePodOOMKilled');
  assert.match(step(dx, 'memory').verdict, /^Kernel OOM, not the JVM heap: the heap peaked at 78% of its max/);
});

test('OOMKilled below the seen peak says the spike fell between scrapes', () => {
  const dx = diagnosePod(pod({}, { restarts1h: 1, lastReason: 'OOMKilled', exitCode: 137, wsPeak: 300 * MiB }));
  assert.match(dx.headline.text, /^OOMKilled at its 512 MiB limit; the working set seen peaked at 300 MiB \(59%\)/);
});

test('exit 137 without OOMKilled is SIGKILL', () => {
  const dx = diagnosePod(pod({}, { restarts1h: 2, lastReason: 'Error', exitCode: 137 }));
  assert.equal(step(dx, 'termination').runbook.alert, 'KubeContainerSigkilled');
  assert.match(dx.headline.text, /^SIGKILL \(exit 137\), not OOMKilled/);
});

test('crash loop with exit 1: headline, and the signals lean to a bug when only this workload fails in a rollout', () => {
  const dx = diagnosePod(
    pod({ images: ['p:2.4.0', 'p:2.5.0'] }, { restarts1h: 7.4, lastReason: 'Error', exitCode: 1, waiting: 'CrashLoopBackOff', ready: 0, everReady1h: 0 }),
  );
  assert.equal(dx.headline.text, 'Crash-looping: 7 restarts in the last hour, last exit code 1 (application error)');
  const t = step(dx, 'termination');
  assert.equal(t.runbook.alert, 'KubeContainerExitedWithError');
  assert.equal(t.lean.points, 'bug');
  assert.ok(t.signals.some((s) => /2 images among the pods of Deployment p/.test(s.text)));
  assert.ok(t.signals.some((s) => /Never ready/.test(s.text)));
});

test('exit 1 while other workloads restart too leans to a dependency', () => {
  const dx = diagnosePod(pod({ otherRestarts: { pods: 4, namespaces: 2 } }, { restarts1h: 2, exitCode: 1, lastReason: 'Error' }));
  const t = step(dx, 'termination');
  assert.equal(t.lean.points, 'connectivity');
  assert.match(t.signals[0].text, /^4 pods of other workloads \(2 namespaces\)/);
});

test('JVM OutOfMemoryError: full heap before a restart that was not an OOMKill', () => {
  const dx = diagnosePod(pod({ heap: { peak: 0.98, now: 0.4 } }, { restarts1h: 1, exitCode: 1, lastReason: 'Error' }));
  assert.equal(step(dx, 'memory').runbook.alert, 'KubeJvmHeapOutOfMemory');
});

test('memory near its limit warns with the pack\'s alert', () => {
  const dx = diagnosePod(pod({}, { wsNow: 480 * MiB, wsPeak: 490 * MiB }));
  assert.equal(step(dx, 'memory').status, 'warn');
  assert.equal(step(dx, 'memory').runbook.alert, 'KubeContainerMemoryNearLimit');
  assert.match(dx.headline.text, /^Working set at 94% of its 512 MiB limit/);
});

test('Pending and unschedulable, with zone hints', () => {
  const dx = diagnosePod(pod({ phase: 'Pending', node: null, unschedulable: true, zones: [{ zone: 'a', nodes: 2, cordoned: 0 }, { zone: 'b', nodes: 1, cordoned: 1 }] }, { ready: 0 }));
  assert.equal(dx.headline.text, 'Pending: unschedulable');
  const s = step(dx, 'scheduling');
  assert.equal(s.runbook.alert, 'KubePodUnschedulable');
  assert.ok(s.details.some((d) => d === 'Nodes per zone: a 2, b 1 (1 cordoned).'));
  assert.ok(s.details.some((d) => /Every node of b is cordoned/.test(d)));
  assert.equal(step(dx, 'eviction').status, 'none');
});

test('a pod without a node says its containers have not run, not that cAdvisor is missing', () => {
  const dx = diagnosePod(pod({ phase: 'Pending', node: null, unschedulable: true, containers: [], zones: [] }));
  for (const id of ['termination', 'memory', 'crashloop']) assert.match(step(dx, id).verdict, /^Not started: the pod has no node yet/);
  assert.equal(step(dx, 'memory').graph, undefined);
});

test('Pending but scheduled points at KubePodPendingTooLong', () => {
  const dx = diagnosePod(pod({ phase: 'Pending' }, { waiting: 'ContainerCreating', ready: 0 }));
  assert.equal(step(dx, 'scheduling').runbook.alert, 'KubePodPendingTooLong');
  assert.match(dx.headline.text, /^Pending: scheduled but not started \(waiting: ContainerCreating\)/);
});

test('zone label missing says how to get it', () => {
  assert.match(zoneHints(null)[0], /--metric-labels-allowlist=nodes=\[topology.kubernetes.io\/zone\]/);
});

test('evicted under DiskPressure', () => {
  const dx = diagnosePod(pod({ phase: 'Failed', evicted: true, pressure: [{ condition: 'DiskPressure', now: false }] }));
  assert.equal(dx.headline.text, 'Evicted from node node-a under DiskPressure');
  assert.equal(step(dx, 'eviction').runbook.alert, 'KubePodEvicted');
});

test('node pressure without eviction warns with KubeNodePressure', () => {
  const dx = diagnosePod(pod({ pressure: [{ condition: 'MemoryPressure', now: true }] }));
  assert.equal(step(dx, 'eviction').runbook.alert, 'KubeNodePressure');
  assert.equal(step(dx, 'eviction').status, 'warn');
});

test('HPA at its maximum, and an HPA/VPA conflict', () => {
  const maxed = diagnosePod(pod({ hpa: { name: 'p', current: 6, desired: 6, min: 2, max: 6, metrics: ['cpu'] } }));
  assert.equal(step(maxed, 'autoscaling').verdict, 'HPA p at its maximum: 6 of 6 replicas');
  const conflict = diagnosePod(pod({ hpa: { name: 'p', current: 3, desired: 3, min: 2, max: 6, metrics: ['cpu'] }, vpas: [{ name: 'p-vpa', mode: 'Auto' }] }));
  assert.equal(step(conflict, 'autoscaling').runbook.alert, 'KubeHpaVpaConflict');
  const off = diagnosePod(pod({ hpa: { name: 'p', current: 3, desired: 3, min: 2, max: 6, metrics: ['cpu'] }, vpas: [{ name: 'p-vpa', mode: 'Off' }] }));
  assert.equal(step(off, 'autoscaling').status, 'ok');
});

test('a healthy pod says nothing is wrong', () => {
  const dx = diagnosePod(pod());
  assert.equal(dx.headline.status, 'ok');
  assert.ok(dx.steps.every((s) => s.status === 'ok' || s.status === 'none'), dx.steps.map((s) => `${s.id}:${s.status}`).join(' '));
});

test('an unknown pod is not found', () => {
  const dx = diagnosePod(pod({ found: false }));
  assert.equal(dx.found, false);
  assert.match(dx.headline.text, /is kube-state-metrics scraped\?/);
});

// --- Formatting and queries

test('formatting', () => {
  assert.equal(fmtBytes(512 * MiB), '512 MiB');
  assert.equal(fmtBytes(1.5 * 1024 * MiB), '1.5 GiB');
  assert.equal(exitMeaning(137, 'OOMKilled'), 'OOMKilled');
  assert.equal(exitMeaning(143), 'SIGTERM');
  assert.equal(exitMeaning(2), 'usage or configuration error');
});

test('selectors quote label values', () => {
  assert.equal(sel({ pod: 'a"b' }), '{pod="a\\"b"}');
  assert.equal(podQueries('ns', 'p').lastReason, 'kube_pod_container_status_last_terminated_reason{namespace="ns", pod="p"} == 1');
  assert.equal(queryHref('up'), '/query?g0.expr=up&g0.tab=graph&g0.range_input=1h');
  const re = new RegExp(`^(?:${workloadPodRegex({ kind: 'Deployment', name: 'ledger' })})$`);
  assert.ok(re.test('ledger-6c8f9d7b5-x2x7k'));
  assert.ok(!re.test('ledger-writer-6c8f9d7b5-x2x7k'));
});

test('runbook links: the loaded pack\'s runbook_url, else the pack\'s URL pattern', () => {
  const rules = new Map([['KubePodOOMKilled', { runbook: 'https://example.test/rb#oom', alerts: [{ state: 'firing', labels: { namespace: 'a', pod: 'b' } }] }]]);
  assert.equal(runbookUrl({ pack: 'kubernetes-triage', alert: 'KubePodOOMKilled' }, rules), 'https://example.test/rb#oom');
  assert.equal(runbookUrl({ pack: 'kubernetes-triage', alert: 'KubePodOOMKilled' }, new Map()), 'https://github.com/strata-metrics/strata/blob/main/docs/runbooks/kubernetes-triage.md#kubepodoomkilled');
  assert.equal(runbookUrl({ pack: 'kafka', alert: 'KafkaConsumerGroupLagGrowing' }, undefined), 'https://github.com/strata-metrics/strata/blob/main/docs/runbooks/kafka.md#kafkaconsumergrouplaggrowing');
  assert.equal(activeAlerts(rules, 'KubePodOOMKilled', { namespace: 'a', pod: 'b' }).length, 1);
  assert.equal(activeAlerts(rules, 'KubePodOOMKilled', { namespace: 'a', pod: 'c' }).length, 0);
});

test('every alert the views link exists in its pack, with the runbook URL the fallback builds', async () => {
  const { readFileSync } = await import('node:fs');
  const here = new URL('.', import.meta.url);
  const packs = {};
  for (const pack of ['kubernetes-triage', 'kafka']) {
    const text = readFileSync(new URL(`../../../rules/${pack}.yml`, here), 'utf8');
    packs[pack] = new Map([...text.matchAll(/- alert: (\w+)[\s\S]*?runbook_url: "([^"]+)"/g)].map((m) => [m[1], m[2]]));
  }
  const src = ['verdicts.js', 'kafka.jsx'].map((f) => readFileSync(new URL(`../src/pages/triage/${f}`, here), 'utf8')).join('\n');
  const linked = new Set([...src.matchAll(/\b(Kube[A-Z]\w+|Kafka[A-Z]\w+)\b/g)].map((m) => m[1]).filter((n) => !/^Kafka(LagPage)$/.test(n)));
  assert.ok(linked.size >= 14, [...linked].join(' '));
  for (const name of linked) {
    const pack = name.startsWith('Kube') ? 'kubernetes-triage' : 'kafka';
    assert.ok(packs[pack].has(name), `${name} is not an alert of ${pack}`);
    assert.equal(runbookUrl({ pack, alert: name }, new Map()), packs[pack].get(name));
  }
});
