// Status pages: build and runtime information, TSDB statistics, flags and
// the loaded configuration.
import { useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Filter, Loading, QueryLink, matches } from '../common.jsx';
import { href } from '../paths.js';

function KvTable({ rows, testid }) {
  return (
    <div class="table-wrap">
      <table class="data kv-table" data-testid={testid}>
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td class="mono">{typeof v === 'object' ? JSON.stringify(v) : String(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function StatusPage() {
  const [build] = useApi('status/buildinfo');
  const [runtime] = useApi('status/runtimeinfo');
  return (
    <main class="page">
      <h1>Runtime &amp; build information</h1>
      <section class="card">
        <h2>Runtime information</h2>
        <Loading state={runtime}>{(d) => <KvTable rows={Object.entries(d)} testid="runtimeinfo" />}</Loading>
      </section>
      <section class="card">
        <h2>Build information</h2>
        <Loading state={build}>{(d) => <KvTable rows={Object.entries(d)} testid="buildinfo" />}</Loading>
      </section>
    </main>
  );
}

function CountTable({ title, rows, valueName, link }) {
  return (
    <section class="card">
      <h2>{title}</h2>
      {!rows || rows.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <div class="table-wrap">
          <table class="data">
            <thead>
              <tr>
                <th>Name</th>
                <th class="num">{valueName}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name}>
                  <td class="mono">{link ? <QueryLink expr={link(r.name)}>{r.name}</QueryLink> : r.name}</td>
                  <td class="num mono">{r.value.toLocaleString('en-US')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const ms = (t) => (t > 0 && t < 9e15 ? new Date(t).toISOString().replace('T', ' ').replace('.000Z', ' UTC') : 'no data');

export function TsdbStatusPage() {
  const [tsdb] = useApi('status/tsdb', { limit: 10 });
  return (
    <main class="page">
      <div class="page-head">
        <h1>TSDB status</h1>
        <a href={href('/cardinality')}>Explore cardinality: labels and values per metric →</a>
      </div>
      <Loading state={tsdb}>
        {(d) => (
          <>
            <section class="card">
              <h2>Head block</h2>
              <KvTable
                testid="head-stats"
                rows={[
                  ['Number of series', (d.headStats?.numSeries ?? 0).toLocaleString('en-US')],
                  ['Number of chunks', (d.headStats?.chunkCount ?? 0).toLocaleString('en-US')],
                  ['Number of label pairs', (d.headStats?.numLabelPairs ?? 0).toLocaleString('en-US')],
                  ['Current min time', ms(d.headStats?.minTime)],
                  ['Current max time', ms(d.headStats?.maxTime)],
                ]}
              />
            </section>
            <div class="grid2">
              <CountTable title="Top series count by metric name" rows={d.seriesCountByMetricName} valueName="Series" link={(n) => `count by (__name__) ({__name__=${JSON.stringify(n)}})`} />
              <CountTable title="Top label value count by label name" rows={d.labelValueCountByLabelName} valueName="Values" />
              <CountTable title="Top memory use by label name" rows={d.memoryInBytesByLabelName} valueName="Bytes" />
              <CountTable title="Top series count by label value pair" rows={d.seriesCountByLabelValuePair} valueName="Series" />
            </div>
          </>
        )}
      </Loading>
    </main>
  );
}

export function FlagsPage() {
  const [flags] = useApi('status/flags');
  const [filter, setFilter] = useState('');
  return (
    <main class="page">
      <div class="page-head">
        <h1>Command-line flags</h1>
        <div class="toolbar">
          <Filter value={filter} onInput={setFilter} placeholder="Filter flags" />
        </div>
      </div>
      <Loading state={flags}>
        {(d) => (
          <KvTable
            testid="flags"
            rows={Object.entries(d)
              .filter(([k, v]) => matches(filter, k, v))
              .sort(([a], [b]) => (a < b ? -1 : 1))}
          />
        )}
      </Loading>
    </main>
  );
}

export function ConfigPage() {
  const [cfg] = useApi('status/config');
  const [copied, setCopied] = useState(false);
  return (
    <main class="page">
      <div class="page-head">
        <h1>Configuration</h1>
        <Loading state={cfg}>
          {(d) => (
            <button
              type="button"
              class="btn"
              onClick={() =>
                navigator.clipboard?.writeText(d.yaml).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              {copied ? 'Copied' : 'Copy to clipboard'}
            </button>
          )}
        </Loading>
      </div>
      <Loading state={cfg}>
        {(d) => (
          <pre class="config" data-testid="config" tabIndex={0}>
            {d.yaml}
          </pre>
        )}
      </Loading>
    </main>
  );
}
