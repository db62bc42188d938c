// The decisions of the triage views, as pure functions of numbers already
// fetched: no API, no DOM, so tests/verdicts.test.mjs checks them in node
// against fixed inputs (the 15-minute growth case included, which a short
// browser test cannot wait for). Thresholds follow the rule packs.
import { PRESSURE, hpaQueries, nodeQueries, otherRestartsQuery, podQueries, replicasetOwnerQuery, workloadImagesQuery, zoneQuery } from './queries.js';

// --- formatting

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 536870912 → "512 MiB" (binary units, as memory limits are written). */
export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '?';
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const s = Math.abs(v) >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
  return `${s} ${UNITS[i]}`;
}

export const fmtCount = (n) => Math.round(n).toLocaleString('en-US');
export const pct = (r) => `${Math.round(r * 100)}%`;

function fmtRate(perSec) {
  const a = Math.abs(perSec);
  const s = a >= 100 ? a.toFixed(0) : a >= 1 ? a.toFixed(1) : a.toPrecision(2);
  return `${perSec < 0 ? '−' : '+'}${s} messages/s`;
}

function fmtSpan(sec) {
  if (sec < 90) return `${Math.max(0, Math.round(sec))} s`;
  if (sec < 5400) return `${Math.round(sec / 60)} min`;
  return `${(sec / 3600).toFixed(1).replace(/\.0$/, '')} h`;
}

const plural = (n, one, many = `${one}s`) => `${fmtCount(n)} ${n === 1 ? one : many}`;

/** What an exit code usually means, in the words the runbook uses. */
export function exitMeaning(code, reason) {
  if (code === null || code === undefined) return '';
  if (code === 0) return 'completed';
  if (code === 1) return 'application error';
  if (code === 2) return 'usage or configuration error';
  if (code === 137) return reason === 'OOMKilled' ? 'OOMKilled' : 'SIGKILL';
  if (code === 143) return 'SIGTERM';
  if (code === 139) return 'SIGSEGV';
  if (code > 128 && code < 160) return `signal ${code - 128}`;
  return 'application error';
}

// --- Diagnose a pod

const K8S = 'kubernetes-triage';
const runbook = (alert) => ({ pack: K8S, alert });
const TREE = { pack: K8S, anchor: 'the-restart-triage-tree' };

/** Near the limit means what KubeContainerMemoryNearLimit means. */
export const NEAR_LIMIT = 0.9;
/** A peak this close to the limit "reached" it: the kill comes between scrapes. */
export const REACHED = 0.95;

/** The container the verdict is about: the one restarting most, else one with a termination on record. */
export function focusContainer(containers) {
  if (!containers || containers.length === 0) return null;
  return [...containers].sort(
    (a, b) =>
      (b.waiting === 'CrashLoopBackOff') - (a.waiting === 'CrashLoopBackOff') ||
      (b.restarts1h || 0) - (a.restarts1h || 0) ||
      (b.lastReason ? 1 : 0) - (a.lastReason ? 1 : 0) ||
      (a.name < b.name ? -1 : 1),
  )[0];
}

/**
 * The triage walk over one pod's facts (see data.js: gatherPod). Returns
 * { found, headline: {status, text}, steps: [{id, title, status, verdict,
 * details, signals, lean, runbook, graph, queries}] }, status one of
 * bad | warn | ok | none (no data for the step).
 */
export function diagnosePod(f) {
  const q = podQueries(f.ns, f.pod);
  if (!f.found) {
    return {
      found: false,
      headline: { status: 'none', text: `No kube-state-metrics series for pod ${f.ns}/${f.pod}: is the name right, and is kube-state-metrics scraped?` },
      steps: [],
    };
  }
  const c = focusContainer(f.containers);
  const multi = (f.containers || []).length > 1;
  const inC = c && multi ? ` (container ${c.name})` : '';
  const restarts = c ? Math.round(c.restarts1h || 0) : 0;
  const code = c && Number.isFinite(c.exitCode) ? c.exitCode : null;
  const reason = c ? c.lastReason : null;
  const oom = reason === 'OOMKilled';
  // A pod the scheduler has not placed has run no container: the
  // container steps have nothing to say but that.
  const notStarted = !c && f.phase === 'Pending' && !f.node;
  const NOT_STARTED = 'Not started: the pod has no node yet, so no container has run (see Scheduling below)';
  const steps = [];

  // 1. Last termination: reason and exit code.
  {
    const s = {
      id: 'termination',
      title: 'Last termination',
      queries: [
        { label: 'reason', expr: q.lastReason },
        { label: 'exit code', expr: q.exitCode },
        { label: 'restarts in the last hour', expr: q.restarts1h },
      ],
      details: [],
    };
    if (notStarted) {
      Object.assign(s, { status: 'none', verdict: NOT_STARTED, runbook: TREE });
    } else if (!c) {
      Object.assign(s, { status: 'none', verdict: 'No container status series (kube_pod_container_status_*) for this pod yet.', runbook: TREE });
    } else if (restarts === 0) {
      const earlier = reason || code !== null ? ` (last termination, earlier: ${reason || 'unknown reason'}${code !== null ? `, exit ${code}` : ''})` : '';
      Object.assign(s, { status: 'ok', verdict: `No restarts in the last hour${earlier}.`, runbook: TREE });
      if (c.restartsTotal > 0) s.details.push(`${plural(c.restartsTotal, 'restart')} in total since the pod started.`);
    } else if (oom) {
      const limit = c.limit > 0 ? c.limit : null;
      const peak = c.wsPeak;
      let verdict;
      if (!limit) verdict = `OOMKilled without a memory limit: the node or pod ran out of memory (working set peaked at ${fmtBytes(peak)})`;
      else if (peak !== null && peak >= REACHED * limit) verdict = `OOMKilled: memory working set reached its ${fmtBytes(limit)} limit`;
      else if (peak !== null) verdict = `OOMKilled at its ${fmtBytes(limit)} limit; the working set seen peaked at ${fmtBytes(peak)} (${pct(peak / limit)}): the spike came between two scrapes`;
      else verdict = `OOMKilled at its ${fmtBytes(limit)} limit (no working-set series to compare)`;
      Object.assign(s, { status: 'bad', verdict: verdict + inC, runbook: runbook('KubePodOOMKilled') });
      s.details.push(`Exit code ${code ?? 137}, reason OOMKilled, ${plural(restarts, 'restart')} in the last hour. The process may have logged nothing: the termination reason is the evidence.`);
    } else if (code === 137) {
      Object.assign(s, { status: 'bad', verdict: `SIGKILL (exit 137), not OOMKilled: a liveness-probe kill or the OOM killer taking a child process${inC}`, runbook: runbook('KubeContainerSigkilled') });
      s.details.push('Check `kubectl describe pod` events for "Liveness probe failed" / "Killing", and the node\'s kernel log for an OOM kill.');
    } else if (code === 1 || code === 2) {
      Object.assign(s, { status: 'bad', verdict: `Exit code ${code} (${exitMeaning(code)}): the process exited by itself${inC}`, runbook: runbook('KubeContainerExitedWithError') });
      const { signals, lean } = exitSignals(f, c, code);
      s.signals = signals;
      s.lean = lean;
      if (f.workload) s.queries.push({ label: 'other workloads exiting with errors', expr: otherRestartsQuery(f.pod, f.workload) }, { label: 'images of the workload', expr: workloadImagesQuery(f.ns, f.workload) });
      s.queries.push({ label: 'ever ready in the last hour', expr: q.everReady1h }, { label: 'failed probes', expr: q.probes });
    } else if (code === 0) {
      Object.assign(s, { status: 'warn', verdict: `Exited with code 0 (completed), then restarted: the process ended and restartPolicy started it again${inC}`, runbook: TREE });
    } else {
      Object.assign(s, { status: 'bad', verdict: `Exit code ${code ?? '?'}${code !== null ? ` (${exitMeaning(code, reason)})` : ''}${reason ? `, reason ${reason}` : ''}${inC}`, runbook: TREE });
    }
    if (c && multi) {
      const others = f.containers.filter((o) => o !== c && Math.round(o.restarts1h || 0) > 0);
      for (const o of others) s.details.push(`Container ${o.name} also restarted ${plural(Math.round(o.restarts1h), 'time')} (last: ${o.lastReason || '?'}, exit ${o.exitCode ?? '?'}).`);
    }
    steps.push(s);
  }

  // 2. Memory: working set against the limit; kernel OOM vs JVM heap.
  {
    const s = {
      id: 'memory',
      title: 'Memory: working set, limit and JVM heap',
      graph: 'memory',
      queries: [
        { label: 'working set', expr: `max by (container) (container_memory_working_set_bytes{namespace=${JSON.stringify(f.ns)}, pod=${JSON.stringify(f.pod)}, container!="", container!="POD"})` },
        { label: 'memory limit', expr: q.limit },
        { label: 'JVM heap used / max', expr: q.heap },
      ],
      details: [],
    };
    const withWs = (f.containers || []).filter((x) => x.wsNow !== null && x.wsNow !== undefined);
    const m = c && c.wsNow !== null && c.wsNow !== undefined ? c : withWs.sort((a, b) => (b.limit > 0 ? b.wsNow / b.limit : 0) - (a.limit > 0 ? a.wsNow / a.limit : 0))[0];
    const heap = f.heap;
    const heapText = heap ? `JVM heap peaked at ${pct(heap.peak)} of its max in the last hour (${pct(heap.now)} now)` : null;
    if (notStarted && !m) {
      Object.assign(s, { status: 'none', verdict: NOT_STARTED, runbook: runbook('KubeContainerMemoryNearLimit') });
      delete s.graph;
    } else if (!m && !heap) {
      Object.assign(s, {
        status: 'none',
        verdict: 'No working-set series (container_memory_working_set_bytes) for this pod: is the kubelet\'s cAdvisor endpoint scraped?',
        runbook: runbook('KubeContainerMemoryNearLimit'),
      });
    } else {
      const mIn = m && multi ? ` (container ${m.name})` : '';
      const lim = m && m.limit > 0 ? m.limit : null;
      const usage = m ? (lim ? `Working set ${fmtBytes(m.wsNow)} of its ${fmtBytes(lim)} limit (${pct(m.wsNow / lim)})` : `Working set ${fmtBytes(m.wsNow)}, no memory limit set`) : null;
      if (m) s.details.push(`${usage}${mIn}; peak in the last hour ${fmtBytes(m.wsPeak)}${lim ? ` (${pct(m.wsPeak / lim)})` : ''}.`);
      if (heapText) s.details.push(`${heapText}.`);
      else s.details.push('No JVM heap series for this pod (jvm_memory_used_bytes or jvm_memory_bytes_used with area="heap"): not a JVM, or its metrics carry no namespace and pod labels.');
      if (oom && restarts > 0) {
        if (heap && heap.peak < NEAR_LIMIT) Object.assign(s, { status: 'bad', verdict: `Kernel OOM, not the JVM heap: the heap peaked at ${pct(heap.peak)} of its max, so off-heap memory (metaspace, threads, direct buffers) filled the limit`, runbook: runbook('KubePodOOMKilled') });
        else if (heap) Object.assign(s, { status: 'bad', verdict: `Kernel OOM with a full JVM heap (${pct(heap.peak)} of max): heap max plus off-heap memory does not fit under the limit`, runbook: runbook('KubePodOOMKilled') });
        else Object.assign(s, { status: 'bad', verdict: `Kernel OOM: ${m && lim ? `the working set peaked at ${fmtBytes(m.wsPeak)} of ${fmtBytes(lim)} (${pct(m.wsPeak / lim)})` : 'no limit to compare with'}`, runbook: runbook('KubePodOOMKilled') });
      } else if (heap && restarts > 0 && heap.peak > REACHED) {
        Object.assign(s, { status: 'bad', verdict: `JVM OutOfMemoryError: the heap reached ${pct(heap.peak)} of its max before a restart that was not an OOMKill`, runbook: runbook('KubeJvmHeapOutOfMemory') });
      } else if (heap && heap.now > NEAR_LIMIT) {
        Object.assign(s, { status: 'warn', verdict: `JVM heap at ${pct(heap.now)} of its max: the JVM throws OutOfMemoryError before the kernel acts`, runbook: runbook('KubeJvmHeapNearMax') });
      } else if (m && lim && m.wsNow / lim > NEAR_LIMIT) {
        Object.assign(s, { status: 'warn', verdict: `Working set at ${pct(m.wsNow / lim)} of its ${fmtBytes(lim)} limit${mIn}: the next spike is an OOMKill`, runbook: runbook('KubeContainerMemoryNearLimit') });
      } else {
        Object.assign(s, { status: 'ok', verdict: `${usage || heapText}${mIn}`, runbook: runbook('KubeContainerMemoryNearLimit') });
      }
    }
    steps.push(s);
  }

  // 3. CrashLoopBackOff and the restart history.
  {
    const looping = (f.containers || []).filter((x) => x.waiting === 'CrashLoopBackOff');
    const s = {
      id: 'crashloop',
      title: 'CrashLoopBackOff and restarts',
      graph: 'restarts',
      runbook: runbook('KubePodCrashLooping'),
      queries: [
        { label: 'waiting reason', expr: q.waiting },
        { label: 'restarts', expr: q.restartsTotal },
      ],
      details: [],
    };
    if (looping.length > 0) {
      const l = looping.includes(c) ? c : looping[0];
      const n = Math.round(l.restarts1h || 0);
      const lc = Number.isFinite(l.exitCode) ? l.exitCode : null;
      const lIn = multi ? ` (container ${l.name})` : '';
      Object.assign(s, { status: 'bad', verdict: `Crash-looping: ${plural(n, 'restart')} in the last hour${lc !== null ? `, last exit code ${lc} (${exitMeaning(lc, l.lastReason)})` : ''}${lIn}` });
      s.details.push('The kubelet waits 10s, 20s, 40s … up to 5 minutes between restarts; the termination above says why it fails.');
    } else if (restarts > 0) {
      Object.assign(s, { status: 'warn', verdict: `Restarted ${plural(restarts, 'time')} in the last hour, not in back-off now${inC}` });
    } else if (notStarted) {
      Object.assign(s, { status: 'none', verdict: NOT_STARTED });
      delete s.graph;
    } else if (!c) {
      Object.assign(s, { status: 'none', verdict: 'No container status series for this pod.' });
    } else {
      Object.assign(s, { status: 'ok', verdict: 'Not crash-looping: no restarts in the last hour' });
    }
    steps.push(s);
  }

  // 4. Eviction and the node's pressure conditions.
  {
    const s = { id: 'eviction', title: 'Eviction and node pressure', queries: [{ label: 'evicted', expr: q.evicted }], details: [] };
    const pressure = f.pressure || [];
    const now = pressure.filter((p) => p.now).map((p) => p.condition);
    const hour = pressure.map((p) => p.condition);
    if (f.node) {
      const nq = nodeQueries(f.node);
      s.queries.push({ label: `pressure on ${f.node} now`, expr: nq.pressureNow }, { label: 'pressure in the last hour', expr: nq.pressure1h });
    }
    if (f.evicted) {
      const why = hour.length > 0 ? ` under ${hour.join(', ')}` : '';
      Object.assign(s, { status: 'bad', verdict: `Evicted${f.node ? ` from node ${f.node}` : ''}${why}`, runbook: runbook('KubePodEvicted') });
      if (hour.length === 0) s.details.push(`No ${PRESSURE.split('|').join(', ')} on the node in the last hour: read the pod's status message (\`kubectl get pod -o jsonpath='{.status.message}'\`).`);
      s.details.push('BestEffort pods are evicted first, then Burstable pods using more than their requests.');
    } else if (!f.node) {
      Object.assign(s, { status: 'none', verdict: 'Not on a node: no eviction, no node to check for pressure', runbook: runbook('KubePodEvicted') });
    } else if (now.length > 0) {
      Object.assign(s, { status: 'warn', verdict: `Not evicted, but node ${f.node} reports ${now.join(', ')} now: the kubelet evicts pods to recover`, runbook: runbook('KubeNodePressure') });
    } else if (hour.length > 0) {
      Object.assign(s, { status: 'warn', verdict: `Not evicted; node ${f.node} had ${hour.join(', ')} in the last hour (cleared now)`, runbook: runbook('KubeNodePressure') });
    } else {
      Object.assign(s, { status: 'ok', verdict: `Not evicted; node ${f.node} reports no memory, disk or PID pressure`, runbook: runbook('KubeNodePressure') });
    }
    steps.push(s);
  }

  // 5. Scheduling: Pending, unschedulable, zones.
  {
    const s = {
      id: 'scheduling',
      title: 'Scheduling',
      queries: [
        { label: 'phase', expr: q.phase },
        { label: 'unschedulable', expr: q.unschedulable },
      ],
      details: [],
    };
    const waiting = (f.containers || []).map((x) => x.waiting).filter(Boolean);
    if (f.phase === 'Pending' && f.unschedulable) {
      Object.assign(s, { status: 'bad', verdict: 'Pending: unschedulable', runbook: runbook('KubePodUnschedulable') });
      s.queries.push({ label: 'nodes per zone', expr: zoneQuery() });
      s.details.push(...zoneHints(f.zones));
    } else if (f.phase === 'Pending') {
      Object.assign(s, { status: 'warn', verdict: `Pending: scheduled but not started${waiting.length ? ` (waiting: ${[...new Set(waiting)].join(', ')})` : ''}`, runbook: runbook('KubePodPendingTooLong') });
      s.details.push('Image pulls, volumes that do not attach, init containers or an admission webhook: `kubectl describe pod` events say which.');
    } else if (f.phase === 'Running') {
      const notReady = (f.containers || []).filter((x) => x.ready === 0).map((x) => x.name);
      Object.assign(s, {
        status: notReady.length ? 'warn' : 'ok',
        verdict: `Running on node ${f.node || '?'}${notReady.length ? `, not ready (${notReady.join(', ')})` : ', ready'}`,
        runbook: notReady.length ? TREE : runbook('KubePodPendingTooLong'),
      });
    } else if (f.phase) {
      Object.assign(s, { status: f.phase === 'Succeeded' ? 'ok' : 'warn', verdict: `Phase ${f.phase}${f.node ? ` on node ${f.node}` : ''}`, runbook: runbook('KubePodPendingTooLong') });
    } else {
      Object.assign(s, { status: 'none', verdict: 'No kube_pod_status_phase series for this pod.', runbook: runbook('KubePodPendingTooLong') });
    }
    steps.push(s);
  }

  // 6. The HPA / VPA acting on the pod's workload.
  {
    const s = { id: 'autoscaling', title: 'Autoscaling (HPA / VPA)', queries: [{ label: 'owner', expr: q.owner }], details: [] };
    const w = f.workload;
    if (f.owner && f.owner.kind === 'ReplicaSet') s.queries.push({ label: 'ReplicaSet owner', expr: replicasetOwnerQuery(f.ns, f.owner.name) });
    if (!w) {
      Object.assign(s, { status: 'none', verdict: 'No owner (kube_pod_owner): a bare pod, nothing scales it', runbook: runbook('KubeHpaMaxedOut') });
    } else {
      const hq = hpaQueries(f.ns, w.kind, w.name);
      s.queries.push({ label: 'HPA current replicas', expr: hq.current }, { label: 'HPA max replicas', expr: hq.max }, { label: 'VPA update mode', expr: hq.vpa });
      const h = f.hpa;
      const vpas = (f.vpas || []).filter((v) => v.mode && v.mode !== 'Off');
      const conflict = h && vpas.length > 0 ? (h.metrics || []).filter((m) => m === 'cpu' || m === 'memory') : [];
      if (!h) {
        Object.assign(s, { status: 'none', verdict: `No HPA targets ${w.kind} ${w.name}${vpas.length ? `; VPA ${vpas.map((v) => `${v.name} (${v.mode})`).join(', ')} sets its requests` : ''}`, runbook: runbook('KubeHpaMaxedOut') });
      } else if (h.max !== null && h.current !== null && h.current >= h.max && h.max > (h.min ?? 0)) {
        Object.assign(s, { status: 'warn', verdict: `HPA ${h.name} at its maximum: ${h.current} of ${h.max} replicas`, runbook: runbook('KubeHpaMaxedOut') });
        s.details.push('The load it scales on is no longer absorbed. For a Kafka consumer scaled on lag, max is the partition count: more replicas would idle.');
      } else if (conflict.length > 0) {
        Object.assign(s, { status: 'warn', verdict: `HPA ${h.name} and VPA ${vpas[0].name} both act on ${conflict.join(' and ')} of ${w.kind} ${w.name}`, runbook: runbook('KubeHpaVpaConflict') });
      } else if (h.desired !== null && h.current !== null && h.desired !== h.current) {
        Object.assign(s, { status: 'warn', verdict: `HPA ${h.name} wants ${h.desired} replicas, has ${h.current}`, runbook: runbook('KubeHpaReplicasMismatch') });
      } else {
        Object.assign(s, { status: 'ok', verdict: `HPA ${h.name}: ${h.current ?? '?'} replicas (min ${h.min ?? '?'}, max ${h.max ?? '?'})`, runbook: runbook('KubeHpaMaxedOut') });
      }
      s.details.push(`Owner: ${f.owner ? `${f.owner.kind} ${f.owner.name}` : '?'}${f.owner && (f.owner.kind !== w.kind || f.owner.name !== w.name) ? ` → ${w.kind} ${w.name}` : ''}.`);
      if (h && h.metrics && h.metrics.length) s.details.push(`The HPA scales on: ${h.metrics.join(', ')}.`);
    }
    steps.push(s);
  }

  return { found: true, headline: headline(steps), steps };
}

function headline(steps) {
  const by = (id) => steps.find((s) => s.id === id);
  const cl = by('crashloop');
  if (cl && cl.status === 'bad') return { status: 'bad', text: cl.verdict };
  const bad = steps.find((s) => s.status === 'bad');
  if (bad) return { status: 'bad', text: bad.verdict };
  const warn = steps.find((s) => s.status === 'warn');
  if (warn) return { status: 'warn', text: warn.verdict };
  return { status: 'ok', text: 'Nothing wrong in the metrics: no restarts in the last hour, not evicted, scheduled' };
}

/** The signals KubeContainerExitedWithError's runbook uses to tell a dependency from a bug. */
export function exitSignals(f, c, code) {
  const signals = [];
  if (f.otherRestarts) {
    const { pods, namespaces } = f.otherRestarts;
    if (pods > 0) signals.push({ text: `${plural(pods, 'pod')} of other workloads (${plural(namespaces, 'namespace')}) also exited with an error in the last 15 minutes: a shared dependency (database, broker, DNS) is likely`, points: 'connectivity' });
    else signals.push({ text: 'No other workload exited with an error in the last 15 minutes: the failure is this workload\'s own', points: 'bug' });
  }
  if (f.images && f.workload) {
    if (f.images.length > 1) signals.push({ text: `${f.images.length} images among the pods of ${f.workload.kind} ${f.workload.name} (${f.images.join(', ')}): a new version is rolling out`, points: 'bug' });
    else if (f.images.length === 1) signals.push({ text: `All pods of ${f.workload.kind} ${f.workload.name} run one image (${f.images[0]}): no rollout in progress`, points: null });
  }
  if (c.everReady1h === 0) signals.push({ text: 'Never ready in the last hour: it fails during start-up, at the same point of every start (configuration, or a dependency it needs to start)', points: null });
  else if (c.everReady1h === 1) signals.push({ text: 'It was ready within the last hour: it fails after running a while (on some input, or a dependency that went away)', points: null });
  if (f.probes === null || f.probes === undefined) {
    signals.push({ text: 'No prober_probe_total series (the kubelet\'s /metrics/probes is not scraped): probe failures unknown', points: null });
  } else {
    const failed = Object.entries(f.probes).filter(([, n]) => n >= 0.5);
    if (failed.length === 0) signals.push({ text: 'No failed probes in the last hour', points: null });
    for (const [type, n] of failed) signals.push({ text: `${type} probe failed ${plural(Math.round(n), 'time')} in the last hour: the process stopped answering before it exited`, points: null });
  }
  if (code === 2) signals.push({ text: 'Exit code 2 is usually a bad command line or configuration (a usage error)', points: 'bug' });
  const conn = signals.filter((s) => s.points === 'connectivity').length;
  const bug = signals.filter((s) => s.points === 'bug').length;
  let lean;
  if (bug > conn) lean = { points: 'bug', text: 'The signals point at an application bug or its configuration: look for a stack trace, panic or config error in `kubectl logs --previous`; roll back if a new version is out.' };
  else if (conn > bug) lean = { points: 'connectivity', text: 'The signals point at a dependency: look for "connection refused", timeouts, "no such host" or TLS errors in `kubectl logs --previous`.' };
  else lean = { points: null, text: 'The metrics cannot tell a dependency from a bug here: `kubectl logs --previous` can.' };
  return { signals, lean };
}

/** Nodes per zone, and what it means for a pod the scheduler cannot place. */
export function zoneHints(zones) {
  if (zones === null || zones === undefined) {
    return ['kube_node_labels has no topology zone label: run kube-state-metrics with --metric-labels-allowlist=nodes=[topology.kubernetes.io/zone] to see nodes per zone.'];
  }
  if (zones.length === 0) return ['No kube_node_labels series: no nodes known.'];
  const list = zones.map((z) => `${z.zone} ${z.nodes}${z.cordoned ? ` (${z.cordoned} cordoned)` : ''}`).join(', ');
  const out = [`Nodes per zone: ${list}.`];
  const full = zones.filter((z) => z.cordoned >= z.nodes);
  if (full.length > 0) out.push(`Every node of ${full.map((z) => z.zone).join(', ')} is cordoned: a spread constraint that needs that zone cannot be met.`);
  out.push(
    `With topologySpreadConstraints and whenUnsatisfiable: DoNotSchedule, a zone without schedulable nodes — or minDomains above the ${plural(zones.length - full.length, 'zone')} that ${zones.length - full.length === 1 ? 'has' : 'have'} nodes — makes every placement invalid; the cluster autoscaler or Karpenter must be able to add a node there. Read the FailedScheduling event.`,
  );
  return out;
}

// --- Kafka lag

/** KafkaConsumerGroupLagGrowing's `for`. */
export const GROWING_FOR_SEC = 15 * 60;
/** At most this many messages behind per partition counts as caught up (one commit batch). */
export const CAUGHT_UP_PER_PARTITION = 10;

/**
 * The lag verdict of one consumer group on one topic.
 *   lag:   [[tSec, messages], ...] summed over partitions, oldest first
 *   deriv: [[tSec, messages/s], ...] the pack's deriv10m over the same window
 *   step:  seconds between points
 *   partitions: how many partitions
 *   alert: the pack's KafkaConsumerGroupLagGrowing alert for this group and
 *          topic when the pack is loaded ({state, activeAt ms}), else null
 * Returns { kind: growing|rising|spike|caught-up|steady|nodata, status, text }.
 */
export function lagVerdict({ lag, deriv, step, partitions = 1, alert = null }) {
  if (!lag || lag.length === 0) return { kind: 'nodata', status: 'none', text: 'No lag samples in the window.' };
  const [tNow, lagNow] = lag[lag.length - 1];
  const d = (deriv || []).filter(([, v]) => Number.isFinite(v));
  const dNow = d.length ? d[d.length - 1][1] : null;
  // The uninterrupted run of positive slope ending now: what the alert's
  // pending state measures (a gap or a non-positive point resets it).
  let runStart = null;
  for (let i = d.length - 1; i >= 0; i--) {
    if (d[i][1] <= 0) break;
    if (i < d.length - 1 && d[i + 1][0] - d[i][0] > 2 * step) break;
    runStart = d[i][0];
  }
  const runSec = runStart === null ? 0 : d[d.length - 1][0] - runStart;
  const behind = `${fmtCount(lagNow)} behind`;
  if ((alert && alert.state === 'firing') || runSec >= GROWING_FOR_SEC) {
    return { kind: 'growing', status: 'bad', text: `Growing for 15+ minutes: ${dNow !== null ? `${fmtRate(dNow)}, ` : ''}${behind}` };
  }
  if (dNow !== null && dNow > 0) {
    const since = alert && alert.state === 'pending' && alert.activeAt ? Math.max(runSec, tNow - alert.activeAt / 1000) : runSec;
    return { kind: 'rising', status: 'warn', text: `Rising for ${fmtSpan(since)} (${fmtRate(dNow)}, ${behind}): not yet the 15 minutes of growth the alert waits for; a deploy spike turns around sooner` };
  }
  if (lagNow <= CAUGHT_UP_PER_PARTITION * Math.max(1, partitions)) {
    return { kind: 'caught-up', status: 'ok', text: lagNow === 0 ? 'Caught up: no lag' : `Caught up: ${behind}` };
  }
  let peak = lag[0];
  for (const p of lag) if (p[1] > peak[1]) peak = p;
  if (peak[1] >= 2 * lagNow && peak[1] - lagNow > CAUGHT_UP_PER_PARTITION * Math.max(1, partitions)) {
    return { kind: 'spike', status: 'ok', text: `Deploy spike, draining: lag peaked ${fmtSpan(tNow - peak[0])} ago at ${fmtCount(peak[1])} and is falling (${fmtCount(lagNow)} now)` };
  }
  return { kind: 'steady', status: 'ok', text: `Steady: ${behind}, not growing${dNow !== null ? ` (${fmtRate(dNow)})` : ''}` };
}

function median(xs) {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Ranks partitions by current lag (then growth over the last 10 minutes)
 * and names a hot one: the top partition when its lag is at least twice the
 * median of the others. series: [{partition, values: [[tSec, v], ...]}].
 */
export function rankPartitions(series) {
  const ranked = series
    .map((s) => {
      const vs = s.values || [];
      const last = vs.length ? vs[vs.length - 1] : null;
      const lag = last ? last[1] : null;
      let growth = null;
      if (last) {
        const from = vs.find(([t]) => t >= last[0] - 600) || vs[0];
        growth = last[1] - from[1];
      }
      return { ...s, lag, growth };
    })
    .sort((a, b) => (b.lag ?? -1) - (a.lag ?? -1) || (b.growth ?? 0) - (a.growth ?? 0) || String(a.partition).localeCompare(String(b.partition), 'en', { numeric: true }));
  let hot = null;
  let reason = '';
  if (ranked.length > 1 && ranked[0].lag > 0) {
    const top = ranked[0];
    const med = median(ranked.slice(1).map((r) => r.lag ?? 0));
    if (top.lag >= 2 * med && top.lag - med >= CAUGHT_UP_PER_PARTITION) {
      hot = top.partition;
      const times = med > 0 ? `${(top.lag / med).toFixed(1)}× the median of the others` : 'the others are caught up';
      const grow = top.growth > 0 ? `, +${fmtCount(top.growth)} in the last 10 min` : '';
      reason = `Hot partition ${top.partition}: ${fmtCount(top.lag)} behind, ${times}${grow}: a hot key or one slow consumer`;
    }
  }
  if (!hot && ranked.length > 1) {
    const med = median(ranked.map((r) => r.lag ?? 0));
    reason = med > CAUGHT_UP_PER_PARTITION ? 'Lag is spread over the partitions: too few consumers or a slow dependency, not one hot key' : 'No partition stands out.';
  }
  return { ranked, hot, reason };
}
