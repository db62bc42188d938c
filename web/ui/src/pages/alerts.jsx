// Alerts: every alerting rule, grouped by state, with its active alerts.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Filter, Labels, Loading, QueryLink, StateBadge, matches } from '../common.jsx';
import { ago, humanizeDuration } from '../time.js';

const STATES = ['firing', 'pending', 'inactive'];

export function AlertsPage() {
  const [rules, reload] = useApi('rules', { type: 'alert' });
  const [filter, setFilter] = useState('');
  const [hidden, setHidden] = useState({});
  return (
    <main class="page">
      <div class="page-head">
        <h1>Alerts</h1>
        <div class="toolbar">
          {STATES.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" checked={!hidden[s]} onChange={() => setHidden((h) => ({ ...h, [s]: !h[s] }))} /> {s}
            </label>
          ))}
          <Filter value={filter} onInput={setFilter} placeholder="Filter by name or labels" />
          <button type="button" class="btn" onClick={reload}>Refresh</button>
        </div>
      </div>
      <Loading state={rules}>
        {(data) => {
          const all = data.groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting').map((r) => ({ ...r, group: g.name, file: g.file })));
          if (all.length === 0) return <p class="muted">No alerting rules are loaded. Add rule files to the configuration, or start with --rule-pack.</p>;
          return STATES.filter((s) => !hidden[s]).map((state) => {
            const list = all.filter((r) => (r.state || 'inactive') === state && matches(filter, r.name, r.labels || {}));
            return (
              <section key={state} class="state-section" data-testid={`alerts-${state}`}>
                <h2>
                  <StateBadge value={state} /> {list.length}
                </h2>
                {list.map((r) => (
                  <AlertRule key={`${r.group}/${r.name}/${JSON.stringify(r.labels)}`} rule={r} open={state === 'firing'} />
                ))}
              </section>
            );
          });
        }}
      </Loading>
    </main>
  );
}

function AlertRule({ rule, open }) {
  const alerts = rule.alerts || [];
  return (
    <details class="card" open={open}>
      <summary>
        <span class="rule-name">{rule.name}</span> <StateBadge value={rule.state} />
        {alerts.length > 0 && <span class="muted"> {alerts.length} active</span>}
        <span class="muted small"> · {rule.group}</span>
      </summary>
      <div class="card-body">
        <dl class="kv">
          <dt>expr</dt>
          <dd>
            <QueryLink expr={rule.query} />
          </dd>
          {rule.duration > 0 && (
            <>
              <dt>for</dt>
              <dd>{humanizeDuration(rule.duration * 1000)}</dd>
            </>
          )}
          {rule.keepFiringFor > 0 && (
            <>
              <dt>keep firing for</dt>
              <dd>{humanizeDuration(rule.keepFiringFor * 1000)}</dd>
            </>
          )}
          <dt>labels</dt>
          <dd>
            <Labels labels={rule.labels} />
          </dd>
          {Object.entries(rule.annotations || {}).map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd class="annotation">{v}</dd>
            </Fragment>
          ))}
          {rule.lastError && (
            <>
              <dt>error</dt>
              <dd class="error-text">{rule.lastError}</dd>
            </>
          )}
        </dl>
        {alerts.length > 0 && (
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th>Labels</th>
                  <th>State</th>
                  <th>Active since</th>
                  <th>Value</th>
                </tr>
              </thead>
              <tbody>
                {alerts.map((a, i) => (
                  <tr key={i}>
                    <td>
                      <Labels labels={a.labels} />
                      {/* Expanded per alert (the rule's are templates), and
                          what on-call reads first: shown, not folded. */}
                      {Object.keys(a.annotations || {}).length > 0 && (
                        <dl class="kv small alert-annotations">
                          {Object.entries(a.annotations).map(([k, v]) => (
                            <Fragment key={k}>
                              <dt>{k}</dt>
                              <dd class="annotation">{v}</dd>
                            </Fragment>
                          ))}
                        </dl>
                      )}
                    </td>
                    <td>
                      <StateBadge value={a.state} />
                    </td>
                    <td title={a.activeAt}>{a.activeAt ? `${a.activeAt.replace('T', ' ').replace(/\.\d+/, '')} (${ago(Date.parse(a.activeAt))})` : ''}</td>
                    <td class="mono">{a.value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </details>
  );
}
