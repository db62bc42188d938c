// Pieces both triage pages use: URL parameters, status badges, the step
// card with its verdict, runbook link and PromQL.
import { useEffect, useState } from 'preact/hooks';
import { StateBadge } from '../../common.jsx';
import { queryHref } from './queries.js';
import { runbookUrl } from './data.js';

/** The page's query parameters, following back/forward. */
export function useSearchParams() {
  const [search, setSearch] = useState(window.location.search);
  useEffect(() => {
    const onPop = () => setSearch(window.location.search);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const params = new URLSearchParams(search);
  // A new history entry per pick, so Back returns to the previous pod.
  const navigate = (next) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v) q.set(k, v);
    const s = q.toString() ? `?${q}` : '';
    if (s !== window.location.search) window.history.pushState(null, '', window.location.pathname + s);
    setSearch(s);
    window.scrollTo(0, 0);
  };
  return [params, navigate];
}

/** A same-page link that changes the parameters without a reload. */
export function ParamLink({ to, navigate, children, ...rest }) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(to)) if (v) q.set(k, v);
  const href = `${window.location.pathname}?${q}`;
  const onClick = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

const STATUS_TEXT = { bad: 'problem', warn: 'warning', ok: 'ok', none: 'no data' };

export function StatusBadge({ status }) {
  return <span class={`tri-badge tri-${status}`}>{STATUS_TEXT[status] || status}</span>;
}

export function RunbookLink({ rb, rules }) {
  const url = runbookUrl(rb, rules);
  if (!url) return null;
  return (
    <a href={url} target="_blank" rel="noopener noreferrer" class="tri-runbook">
      Runbook: {rb.alert || rb.anchor.replace(/-/g, ' ')} ↗
    </a>
  );
}

export function Queries({ queries }) {
  if (!queries || queries.length === 0) return null;
  return (
    <ul class="tri-queries" aria-label="PromQL behind this step">
      {queries.map((q) => (
        <li key={q.label + q.expr}>
          <span class="muted small">{q.label}: </span>
          <a class="mono small expr" href={queryHref(q.expr)}>
            {q.expr}
          </a>
        </li>
      ))}
    </ul>
  );
}

/** Active alerts of the step's rule for this object, as the rules API reports them. */
export function AlertStates({ alerts, name }) {
  if (!alerts || alerts.length === 0) return null;
  const state = alerts.some((a) => a.state === 'firing') ? 'firing' : alerts[0].state;
  return (
    <span class="tri-alert" title={`${name} is ${state} for this object`}>
      <StateBadge value={state} /> <span class="small">{name}</span>
    </span>
  );
}

export function Empty({ children }) {
  return (
    <div class="card tri-empty" role="status" data-testid="empty-state">
      {children}
    </div>
  );
}
