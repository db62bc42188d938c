// Small pieces every status page uses.
import { formatSeries } from './series.js';
import { href as at } from './paths.js';

export function Loading({ state, children }) {
  if (state.error) {
    return (
      <div class="msg error" role="alert">
        <b>Error:</b> {state.error.message}
      </div>
    );
  }
  if (state.data === undefined) return <p class="muted">Loading…</p>;
  return children(state.data);
}

export function Labels({ labels }) {
  const entries = Object.entries(labels || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <span class="labels">
      {entries.map(([k, v]) => (
        <span key={k} class="label mono">
          {k}="{v}"
        </span>
      ))}
    </span>
  );
}

export function Health({ value }) {
  const v = (value || 'unknown').toLowerCase();
  const cls = v === 'up' || v === 'ok' ? 'ok' : v === 'down' || v === 'err' ? 'bad' : 'unknown';
  return <span class={`badge ${cls}`}>{v.toUpperCase()}</span>;
}

export function StateBadge({ value }) {
  const v = (value || 'inactive').toLowerCase();
  return <span class={`badge state-${v}`}>{v.toUpperCase()}</span>;
}

/** A link that opens an expression in the query page's table tab. */
export function QueryLink({ expr, children }) {
  const href = at(`/query?${new URLSearchParams({ 'g0.expr': expr, 'g0.tab': 'table' })}`);
  return (
    <a href={href} class="mono expr">
      {children || expr}
    </a>
  );
}

export function Filter({ value, onInput, placeholder }) {
  return <input type="search" class="filter" placeholder={placeholder} aria-label={placeholder} value={value} onInput={(e) => onInput(e.currentTarget.value)} />;
}

export function matches(filter, ...texts) {
  const f = filter.trim().toLowerCase();
  if (f === '') return true;
  return texts.some((t) => (typeof t === 'string' ? t : formatSeries(t)).toLowerCase().includes(f));
}
