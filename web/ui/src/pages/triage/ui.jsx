// Pieces both triage pages use: URL parameters, status badges, the step
// card with its verdict, runbook link and PromQL.
import { useEffect, useState } from 'preact/hooks';
import { StateBadge } from '../../common.jsx';
import { queryHref } from './queries.js';
import { runbookUrl } from './data.js';

/** Loads `fn(signal)` whenever `deps` change: {loading, data, error}; the old data stays while reloading. */
export function useAsync(fn, deps) {
  const [st, setSt] = useState({ loading: true });
  useEffect(() => {
    const ctl = new AbortController();
    setSt((s) => ({ ...s, loading: true, error: undefined }));
    fn(ctl.signal)
      .then((data) => setSt({ loading: false, data }))
      .catch((e) => e.name !== 'AbortError' && setSt({ loading: false, error: e }));
    return () => ctl.abort();
  }, deps);
  return st;
}

export function ErrorMsg({ error }) {
  return (
    <div class="msg error" role="alert">
      <b>Error:</b> {error.message}
    </div>
  );
}

/**
 * The theme in effect ("light"/"dark"), following the header's toggle
 * and the system preference, so charts redraw with the new colours.
 */
export function useTheme() {
  const now = () => document.documentElement.dataset.theme || (window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  const [theme, setTheme] = useState(now);
  useEffect(() => {
    const update = () => setTheme(now());
    const mo = new MutationObserver(update);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    mq.addEventListener('change', update);
    return () => {
      mo.disconnect();
      mq.removeEventListener('change', update);
    };
  }, []);
  return theme;
}

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
