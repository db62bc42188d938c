// Targets and service discovery, both from /api/v1/targets.
import { useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Filter, Health, Labels, Loading, matches } from '../common.jsx';
import { ago, humanizeSeconds } from '../time.js';

function byPool(list) {
  const pools = new Map();
  for (const t of list) {
    if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
    pools.get(t.scrapePool).push(t);
  }
  return [...pools.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function TargetsPage() {
  const [targets, reload] = useApi('targets', { state: 'active' });
  const [filter, setFilter] = useState('');
  const [unhealthyOnly, setUnhealthyOnly] = useState(false);
  return (
    <main class="page">
      <div class="page-head">
        <h1>Targets</h1>
        <div class="toolbar">
          <label class="check">
            <input type="checkbox" checked={unhealthyOnly} onChange={() => setUnhealthyOnly((v) => !v)} /> unhealthy only
          </label>
          <Filter value={filter} onInput={setFilter} placeholder="Filter by endpoint or labels" />
          <button type="button" class="btn" onClick={reload}>Refresh</button>
        </div>
      </div>
      <Loading state={targets}>
        {(data) => {
          const pools = byPool(data.activeTargets || []);
          if (pools.length === 0) return <p class="muted">No scrape targets. Add scrape_configs to the configuration.</p>;
          return pools.map(([pool, list]) => {
            const up = list.filter((t) => t.health === 'up').length;
            const shown = list.filter((t) => (!unhealthyOnly || t.health !== 'up') && matches(filter, t.scrapeUrl, t.labels));
            if (shown.length === 0 && (filter || unhealthyOnly)) return null;
            return (
              <section key={pool} class="card" data-testid="scrape-pool">
                <div class="card-head">
                  <h2>{pool}</h2>
                  <span class={up === list.length ? 'badge ok' : 'badge bad'}>
                    {up} / {list.length} up
                  </span>
                </div>
                <div class="table-wrap">
                  <table class="data">
                    <thead>
                      <tr>
                        <th>Endpoint</th>
                        <th>State</th>
                        <th>Labels</th>
                        <th>Last scrape</th>
                        <th>Duration</th>
                      </tr>
                    </thead>
                    <tbody>
                      {shown.map((t) => (
                        <tr key={t.scrapeUrl + JSON.stringify(t.labels)} data-testid="target">
                          <td class="mono endpoint">
                            <a href={t.scrapeUrl}>{t.scrapeUrl}</a>
                            {t.lastError && <div class="error-text small">{t.lastError}</div>}
                          </td>
                          <td>
                            <Health value={t.health} />
                          </td>
                          <td>
                            <Labels labels={t.labels} />
                            <details class="inline">
                              <summary class="small">before relabeling</summary>
                              <Labels labels={t.discoveredLabels} />
                            </details>
                          </td>
                          <td>{t.lastScrape && !t.lastScrape.startsWith('0001') ? ago(Date.parse(t.lastScrape)) : 'never'}</td>
                          <td>{humanizeSeconds(t.lastScrapeDuration)}</td>
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

export function ServiceDiscoveryPage() {
  const [targets, reload] = useApi('targets', {});
  const [filter, setFilter] = useState('');
  return (
    <main class="page">
      <div class="page-head">
        <h1>Service discovery</h1>
        <div class="toolbar">
          <Filter value={filter} onInput={setFilter} placeholder="Filter by labels" />
          <button type="button" class="btn" onClick={reload}>Refresh</button>
        </div>
      </div>
      <Loading state={targets}>
        {(data) => {
          const all = [...(data.activeTargets || []).map((t) => ({ ...t, dropped: false })), ...(data.droppedTargets || []).map((t) => ({ ...t, dropped: true, scrapePool: t.scrapePool || t.discoveredLabels?.job || '?' }))];
          const pools = byPool(all);
          if (pools.length === 0) return <p class="muted">Nothing discovered.</p>;
          return pools.map(([pool, list]) => {
            const active = list.filter((t) => !t.dropped).length;
            const shown = list.filter((t) => matches(filter, t.discoveredLabels || {}, t.labels || {}));
            return (
              <section key={pool} class="card">
                <div class="card-head">
                  <h2>{pool}</h2>
                  <span class="muted">
                    {active} active / {list.length - active} dropped
                  </span>
                </div>
                <div class="table-wrap">
                  <table class="data">
                    <thead>
                      <tr>
                        <th>Discovered labels</th>
                        <th>Target labels</th>
                      </tr>
                    </thead>
                    <tbody>
                      {shown.map((t, i) => (
                        <tr key={i}>
                          <td>
                            <Labels labels={t.discoveredLabels} />
                          </td>
                          <td>{t.dropped ? <span class="badge unknown">DROPPED</span> : <Labels labels={t.labels} />}</td>
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
