// /kafka-lag?group=G: a consumer group's lag per partition over time (a hot
// partition hides in the sum, so it is drawn and ranked on its own), and the
// kafka pack's verdict: growing for 15+ minutes (KafkaConsumerGroupLagGrowing's
// expression and `for`), a deploy spike draining, or caught up.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from '../../api.js';
import { seriesColor } from '../../series.js';
import { autoStep } from '../../time.js';
import { Chart } from './chart.jsx';
import { activeAlerts, instant, points, range, val } from './data.js';
import { lagQueries, queryHref } from './queries.js';
import { fmtCount, lagVerdict, rankPartitions } from './verdicts.js';
import { AlertStates, Empty, ErrorMsg, ParamLink, Queries, RunbookLink, StatusBadge, useAsync, useSearchParams, useTheme } from './ui.jsx';
import './triage.css';

const NO_LAG = 'No kafka_consumergroup_lag series found — is kafka_exporter scraped? (Strimzi runs it when the Kafka resource has spec.kafkaExporter.)';
const PACK = 'kafka';


/** Every rule by name (alerts and records), for runbook URLs, alert states and the recorded deriv. */
async function allRules(signal) {
  const r = await api('rules', {}, { signal });
  const out = new Map();
  for (const g of r.data.groups) {
    for (const rule of g.rules) {
      if (!out.has(rule.name)) out.set(rule.name, { runbook: rule.annotations?.runbook_url || null, type: rule.type, alerts: [] });
      out.get(rule.name).alerts.push(...(rule.alerts || []));
    }
  }
  return out;
}

async function groupOverview(signal) {
  const [sum, max, names] = await Promise.all([
    instant('sum by (consumergroup) (kafka_consumergroup_lag)', signal),
    instant('max by (consumergroup) (kafka_consumergroup_lag)', signal),
    api('label/consumergroup/values', { 'match[]': ['kafka_consumergroup_lag'] }, { signal }).then((r) => r.data),
  ]);
  const maxOf = new Map(max.map((s) => [s.metric.consumergroup, val(s)]));
  const sumOf = new Map(sum.map((s) => [s.metric.consumergroup, val(s)]));
  return names.map((g) => ({ group: g, total: sumOf.get(g) ?? null, worst: maxOf.get(g) ?? null })).sort((a, b) => (b.total ?? -1) - (a.total ?? -1) || a.group.localeCompare(b.group));
}

export function KafkaLagPage() {
  const [params, navigate] = useSearchParams();
  const group = params.get('group') || '';
  const overview = useAsync((s) => groupOverview(s), []);
  const rules = useAsync((s) => allRules(s).catch(() => new Map()), []);
  useEffect(() => {
    document.title = group ? `Kafka lag: ${group} · Strata` : 'Kafka lag · Strata';
  }, [group]);
  const groups = overview.data || [];
  return (
    <main class="page tri" id="kafka-lag">
      <div class="page-head">
        <h1>Kafka consumer lag</h1>
        {groups.length > 0 && (
          <label class="tri-inline">
            <span>Consumer group</span>
            <select value={group} onChange={(e) => navigate({ group: e.currentTarget.value })}>
              <option value="">— pick a group —</option>
              {groups.map((g) => (
                <option key={g.group} value={g.group}>
                  {g.group}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {overview.error && <ErrorMsg error={overview.error} />}
      {!overview.data && !overview.error && <p class="muted">Loading…</p>}
      {overview.data && groups.length === 0 && <Empty>{NO_LAG}</Empty>}
      {group && groups.length > 0 && rules.data && <GroupView key={group} group={group} rules={rules.data} />}
      {groups.length > 0 && (
        <section class="card" data-testid="group-list">
          <div class="card-head">
            <h2>Consumer groups</h2>
            <span class="muted small">by total lag; the worst partition beside it</span>
          </div>
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th>Group</th>
                  <th class="num">Total lag</th>
                  <th class="num">Worst partition</th>
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => (
                  <tr key={g.group} aria-current={g.group === group ? 'true' : undefined}>
                    <td>
                      <ParamLink to={{ group: g.group }} navigate={navigate} class="mono">
                        {g.group}
                      </ParamLink>
                    </td>
                    <td class="num">{g.total === null ? '–' : fmtCount(g.total)}</td>
                    <td class="num">{g.worst === null ? '–' : fmtCount(g.worst)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </main>
  );
}

const VERDICT_WINDOW = 30 * 60;
// Fine enough that a spike of a minute or two is sampled; 360 points a series.
const VERDICT_STEP = 5;
const GRAPH_WINDOW = 3600;

/** Labels that tell two lag series of the same topic apart (exporter job/instance). */
const keyOf = (m) =>
  Object.keys(m)
    .filter((k) => k !== '__name__' && k !== 'partition')
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(',');

async function loadGroup(group, rules, signal) {
  const q = lagQueries(group);
  // Not rounded down: the newest scrape is in the answer, as in the
  // overview's instant queries.
  const end = Date.now() / 1000;
  const gStep = autoStep(GRAPH_WINDOW * 1000, 240);
  const recorded = rules && rules.get('consumergroup_topic:kafka_consumergroup_lag:deriv10m')?.type === 'recording';
  const derivExpr = recorded ? q.derivRecorded : q.derivInline(VERDICT_STEP);
  const [parts, sums, derivs, members] = await Promise.all([
    range(q.partitions, end - GRAPH_WINDOW, end, gStep, signal),
    range(q.sum, end - VERDICT_WINDOW, end, VERDICT_STEP, signal),
    range(derivExpr, end - VERDICT_WINDOW, end, VERDICT_STEP, signal),
    instant(q.members, signal),
  ]);
  let first = end;
  for (const s of parts) if (s.values?.length) first = Math.min(first, s.values[0][0]);
  const topics = new Map();
  const topic = (m) => {
    const k = keyOf(m);
    if (!topics.has(k)) topics.set(k, { key: k, topic: m.topic || '?', labels: m, partitions: [], sum: [], deriv: [] });
    return topics.get(k);
  };
  for (const s of parts) topic(s.metric).partitions.push({ partition: s.metric.partition ?? '?', values: points(s) });
  for (const s of sums) topic(s.metric).sum = points(s);
  for (const s of derivs) {
    const m = { ...s.metric };
    delete m.__name__;
    topic(m).deriv = points(s);
  }
  return {
    derivExpr,
    recorded,
    topics: [...topics.values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.key.localeCompare(b.key)),
    members: members.length ? members.reduce((n, s) => n + val(s), 0) : null,
    graph: { start: Math.max(end - GRAPH_WINDOW, first - gStep), end, step: gStep },
  };
}

function GroupView({ group, rules }) {
  const [n, setN] = useState(0);
  const st = useAsync((s) => loadGroup(group, rules, s), [group, n]);
  if (st.error) return <ErrorMsg error={st.error} />;
  if (!st.data) return <p class="muted" role="status">Loading the lag of {group}…</p>;
  const d = st.data;
  const multi = new Set(d.topics.map((t) => t.topic)).size !== d.topics.length;
  return (
    <section aria-label={`Lag of ${group}`} data-testid="group-view">
      <div class="muted small tri-group-meta">
        group <b class="mono">{group}</b>
        {d.members !== null && ` · ${fmtCount(d.members)} member${d.members === 1 ? '' : 's'}`}
        {' · '}verdict from {d.recorded ? 'the pack\u2019s recorded deriv10m' : 'the pack\u2019s deriv10m expression (pack not loaded)'}
        {' · '}
        <button type="button" class="btn tri-small-btn" onClick={() => setN((x) => x + 1)} disabled={st.loading}>
          {st.loading ? 'Refreshing…' : 'Refresh'}
        </button>
      </div>
      {d.topics.length === 0 && <Empty>No lag series for group {group} in the last hour.</Empty>}
      {d.topics.map((t) => (
        <TopicCard key={t.key} group={group} t={t} d={d} rules={rules} showInstance={multi} />
      ))}
    </section>
  );
}

function TopicCard({ group, t, d, rules, showInstance }) {
  const q = lagQueries(group);
  const alerts = activeAlerts(rules, 'KafkaConsumerGroupLagGrowing', { consumergroup: group, topic: t.topic });
  const alert = alerts.find((a) => a.state === 'firing') || alerts[0] || null;
  const verdict = lagVerdict({ lag: t.sum, deriv: t.deriv, step: VERDICT_STEP, partitions: t.partitions.length, alert: alert && { state: alert.state, activeAt: Date.parse(alert.activeAt) } });
  const ranked = useMemo(() => rankPartitions(t.partitions), [t]);
  const theme = useTheme();
  const total = t.sum.length ? t.sum[t.sum.length - 1][1] : null;
  const series = useMemo(() => {
    const css = getComputedStyle(document.documentElement);
    const hotColor = css.getPropertyValue('--bad').trim() || '#c92a2a';
    // Partition order, so a partition keeps its colour across refreshes.
    const byName = [...ranked.ranked].sort((a, b) => String(a.partition).localeCompare(String(b.partition), 'en', { numeric: true }));
    let ci = 0;
    return byName.map((p) => {
      const hot = p.partition === ranked.hot;
      let color = hotColor;
      if (!hot) {
        if (ci === 3) ci++; // the palette's red is the hot partition's
        color = seriesColor(ci++);
      }
      return { label: `partition ${p.partition}`, points: p.values, color, width: hot ? 3 : 1.25, partition: p.partition, hot };
    });
  }, [ranked, theme]);
  const lagHigh = activeAlerts(rules, 'KafkaConsumerGroupLagHigh', { consumergroup: group, topic: t.topic });
  return (
    <article class={`card tri-step tri-border-${verdict.status}`} data-testid="topic" data-topic={t.topic}>
      <div class="tri-step-head">
        <h2>
          topic <span class="mono">{t.topic}</span>
          {showInstance && <span class="muted small mono"> {t.labels.instance || t.labels.job}</span>}
        </h2>
        <span class="muted">total lag {total === null ? '–' : fmtCount(total)}</span>
      </div>
      <div class="tri-verdict-row">
        <StatusBadge status={verdict.status} />
        <p class="tri-verdict" data-testid="lag-verdict" data-kind={verdict.kind}>
          {verdict.text}
        </p>
      </div>
      <div class="tri-step-foot">
        <AlertStates alerts={alerts} name="KafkaConsumerGroupLagGrowing" />
        <RunbookLink rb={{ pack: PACK, alert: 'KafkaConsumerGroupLagGrowing' }} rules={rules} />
      </div>
      <Queries
        queries={[
          { label: 'lag per partition', expr: `kafka_consumergroup_lag{consumergroup=${JSON.stringify(group)}, topic=${JSON.stringify(t.topic)}}` },
          { label: 'lag of the topic', expr: q.sum },
          { label: 'growth (messages/s, 10m regression)', expr: d.derivExpr },
          { label: 'the alert (fires after 15m)', expr: 'consumergroup_topic:kafka_consumergroup_lag:deriv10m > 0' },
        ]}
      />
      <h3 class="tri-sub">Lag per partition</h3>
      {ranked.reason && (
        <p class={ranked.hot ? 'tri-hot-reason' : 'muted'} data-testid="hot-reason">
          {ranked.reason}
          {ranked.hot && (
            <>
              {' '}
              <RunbookLink rb={{ pack: PACK, alert: 'KafkaConsumerGroupLagHigh' }} rules={rules} />
              <AlertStates alerts={lagHigh} name="KafkaConsumerGroupLagHigh" />
            </>
          )}
        </p>
      )}
      <div class="tri-graph" data-testid="lag-graph" data-series={series.length}>
        <Chart series={series} start={d.graph.start} end={d.graph.end} step={d.graph.step} format={fmtCount} height={220} label={`Lag per partition of ${t.topic}`} />
      </div>
      <div class="table-wrap">
        <table class="data tri-partitions">
          <thead>
            <tr>
              <th>Partition</th>
              <th class="num">Lag now</th>
              <th class="num">Change, 10 min</th>
            </tr>
          </thead>
          <tbody>
            {ranked.ranked.map((p) => {
              const s = series.find((x) => x.partition === p.partition);
              const hot = p.partition === ranked.hot;
              return (
                <tr key={p.partition} data-testid="partition-row" data-partition={p.partition} data-hot={hot ? 'true' : 'false'} class={hot ? 'tri-hot' : ''}>
                  <td>
                    <span class="tri-swatch" style={{ background: s?.color, borderColor: s?.color }} />{' '}
                    <a href={queryHref(`kafka_consumergroup_lag{consumergroup=${JSON.stringify(group)}, topic=${JSON.stringify(t.topic)}, partition=${JSON.stringify(String(p.partition))}}`)} class="mono">
                      {p.partition}
                    </a>
                    {hot && <span class="tri-chip tri-bad">hot</span>}
                  </td>
                  <td class="num">{p.lag === null ? '–' : fmtCount(p.lag)}</td>
                  <td class="num">{p.growth === null ? '–' : `${p.growth > 0 ? '+' : ''}${fmtCount(p.growth)}`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </article>
  );
}
