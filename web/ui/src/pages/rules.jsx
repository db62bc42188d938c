// Rules: every rule group with its rules' health, last error and timings.
import { useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Filter, Health, Labels, Loading, QueryLink, matches } from '../common.jsx';
import { ago, humanizeDuration, humanizeSeconds } from '../time.js';

export function RulesPage() {
  const [rules, reload] = useApi('rules', {});
  const [filter, setFilter] = useState('');
  return (
    <main class="page">
      <div class="page-head">
        <h1>Rules</h1>
        <div class="toolbar">
          <Filter value={filter} onInput={setFilter} placeholder="Filter by rule name or group" />
          <button type="button" class="btn" onClick={reload}>Refresh</button>
        </div>
      </div>
      <Loading state={rules}>
        {(data) => {
          if (data.groups.length === 0) return <p class="muted">No rule groups are loaded.</p>;
          return data.groups.map((g) => {
            const list = g.rules.filter((r) => matches(filter, r.name, g.name));
            if (list.length === 0) return null;
            return (
              <section key={`${g.file}/${g.name}`} class="card" data-testid="rule-group">
                <div class="card-head">
                  <h2>{g.name}</h2>
                  <span class="muted small">
                    {g.file} · every {humanizeDuration((g.interval || 0) * 1000)} · last run {ago(Date.parse(g.lastEvaluation))} · took {humanizeSeconds(g.evaluationTime)}
                  </span>
                </div>
                <div class="table-wrap">
                  <table class="data">
                    <thead>
                      <tr>
                        <th>Rule</th>
                        <th>Health</th>
                        <th>Last evaluation</th>
                        <th>Evaluation time</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((r) => (
                        <tr key={r.name + JSON.stringify(r.labels)}>
                          <td>
                            <div>
                              <span class="muted small">{r.type === 'alerting' ? 'alert' : 'record'}</span> <b>{r.name}</b>
                            </div>
                            <QueryLink expr={r.query} />
                            {r.labels && Object.keys(r.labels).length > 0 && (
                              <div>
                                <Labels labels={r.labels} />
                              </div>
                            )}
                            {r.lastError && <div class="error-text small">{r.lastError}</div>}
                          </td>
                          <td>
                            <Health value={r.health} />
                          </td>
                          <td>{ago(Date.parse(r.lastEvaluation))}</td>
                          <td>{humanizeSeconds(r.evaluationTime)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </section>
            );
          });
        }}
      </Loading>
    </main>
  );
}
