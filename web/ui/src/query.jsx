// The query page: panels of PromQL expressions with a table and a graph
// tab each, their state mirrored into the URL.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { readRangeAnswer } from './matrix.js';
import { Editor } from './editor.jsx';
import { Graph } from './graph.jsx';
import { ResultTable } from './table.jsx';
import { decodePanels, encodePanels, newPanel } from './url.js';
import { autoStep, formatDuration, formatTime, parseDuration, parseTime } from './time.js';

// Steps of the range input's - and + buttons.
const RANGE_STEPS = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 28 * 86400e3, 56 * 86400e3, 365 * 86400e3];

export function QueryPage({ agent }) {
  const [panels, setPanels] = useState(() => {
    const p = decodePanels(window.location.search);
    return p.length > 0 ? p : [newPanel()];
  });

  // Debounced: Chrome throttles history updates, and one per keystroke
  // would hit that limit while typing.
  useEffect(() => {
    const t = setTimeout(() => {
      const url = `${window.location.pathname}?${encodePanels(panels)}`;
      if (url !== window.location.pathname + window.location.search) window.history.replaceState(null, '', url);
    }, 200);
    return () => clearTimeout(t);
  }, [panels]);

  const update = useCallback((id, patch) => setPanels((ps) => ps.map((p) => (p.id === id ? { ...p, ...patch } : p))), []);
  const remove = useCallback((id) => setPanels((ps) => (ps.length > 1 ? ps.filter((p) => p.id !== id) : [newPanel()])), []);

  return (
    <main class="page query-page">
      {agent && (
        <p class="notice" role="status">
          This server runs in agent mode: it scrapes and forwards by remote write, and answers no queries.
        </p>
      )}
      {panels.map((p, i) => (
        <Panel key={p.id} panel={p} index={i} update={update} remove={remove} autofocus={i === 0} />
      ))}
      <button type="button" class="btn" onClick={() => setPanels((ps) => [...ps, newPanel()])}>
        Add panel
      </button>
    </main>
  );
}

function Panel({ panel, index, update, remove, autofocus }) {
  const set = (patch) => update(panel.id, patch);
  // Bumped by Enter/Execute; a query runs only then or when its inputs change
  // after a first run, never on every keystroke.
  const [runSeq, setRunSeq] = useState(panel.expr.trim() ? 1 : 0);
  const [res, setRes] = useState(null);
  const [formatError, setFormatError] = useState(null);
  // Bumped when the expression is rewritten from outside the editor.
  const [revision, setRevision] = useState(0);
  const draft = useRef(panel.expr);
  draft.current = panel.expr;

  const run = () => setRunSeq((n) => n + 1);

  useEffect(() => {
    const expr = draft.current.trim();
    if (runSeq === 0 || expr === '') return;
    const ctl = new AbortController();
    const began = performance.now();
    setRes((r) => ({ ...(r || {}), loading: true }));
    let req;
    if (panel.tab === 'table') {
      req = api('query', { query: expr, time: panel.end !== null ? panel.end / 1000 : undefined }, { method: 'POST', signal: ctl.signal }).then((r) => ({ kind: 'table', ...r }));
    } else {
      const end = panel.end !== null ? panel.end : Date.now();
      const step = panel.step || autoStep(panel.range);
      const endMs = end;
      const startMs = end - panel.range;
      req = api('query_range', { query: expr, start: startMs / 1000, end: endMs / 1000, step }, { method: 'POST', signal: ctl.signal, parse: readRangeAnswer }).then((r) => ({
        kind: 'graph',
        start: startMs,
        end: endMs,
        step,
        ...r,
      }));
    }
    req
      .then((r) => setRes({ ...r, ms: Math.round(performance.now() - began) }))
      .catch((e) => {
        if (e.name !== 'AbortError') setRes({ error: e });
      });
    return () => ctl.abort();
  }, [runSeq, panel.tab, panel.range, panel.end, panel.step]);

  const format = async () => {
    setFormatError(null);
    try {
      const r = await api('format_query', { query: panel.expr }, { method: 'POST' });
      set({ expr: r.data });
      setRevision((n) => n + 1);
    } catch (e) {
      setFormatError(e.message);
    }
  };

  const resultCount = res && res.data && Array.isArray(res.data.result) && res.data.resultType !== 'scalar' && res.data.resultType !== 'string' ? res.data.result.length : null;

  return (
    <section class="panel" aria-label={`Query panel ${index + 1}`} data-testid="panel">
      <div class="expr-row">
        <Editor value={panel.expr} revision={revision} onChange={(expr) => set({ expr })} onRun={run} autofocus={autofocus} />
        <div class="expr-buttons">
          <button type="button" class="btn" onClick={format} title="Format expression (/api/v1/format_query)" disabled={!panel.expr.trim()}>
            Format
          </button>
          <button type="button" class="btn primary" onClick={run} data-testid="execute">
            Execute
          </button>
          <button type="button" class="btn icon" onClick={() => remove(panel.id)} title="Remove panel" aria-label="Remove panel">
            ×
          </button>
        </div>
      </div>
      {formatError && <div class="msg error">Format: {formatError}</div>}
      {res && res.error && (
        <div class="msg error" role="alert" data-testid="query-error">
          <b>Error{res.error.errorType && res.error.errorType !== 'unknown' ? ` (${res.error.errorType})` : ''}:</b> {res.error.message}
        </div>
      )}
      {res && (res.warnings || []).map((w, i) => <div key={`w${i}`} class="msg warn">Warning: {w}</div>)}
      {res && (res.infos || []).map((w, i) => <div key={`i${i}`} class="msg info">Info: {w}</div>)}

      <div class="tabs" role="tablist">
        {['table', 'graph'].map((t) => (
          <button key={t} type="button" role="tab" aria-selected={panel.tab === t ? 'true' : 'false'} class={panel.tab === t ? 'tab active' : 'tab'} onClick={() => set({ tab: t })}>
            {t === 'table' ? 'Table' : 'Graph'}
          </button>
        ))}
        <span class="stats muted" data-testid="stats">
          {res && res.loading ? 'Loading…' : res && res.ms !== undefined ? `Load time: ${res.ms}ms${resultCount !== null ? ` · Result series: ${resultCount}` : ''}` : ''}
        </span>
      </div>

      <div class="tab-body">
        {panel.tab === 'table' ? (
          <>
            <div class="controls">
              <TimeInput label="Evaluation time" value={panel.end} onChange={(end) => set({ end })} />
            </div>
            {res && res.kind === 'table' && res.data && <ResultTable data={res.data} />}
            {(!res || (!res.data && !res.error)) && <p class="muted">No data queried yet.</p>}
          </>
        ) : (
          <>
            <GraphControls panel={panel} set={set} />
            {res && res.kind === 'graph' && res.data && res.data.resultType === 'matrix' && (
              res.data.result.length === 0 ? <p class="muted">Empty query result.</p> : <Graph result={res.data.result} start={res.start} end={res.end} step={res.step} stacked={panel.stacked} />
            )}
            {(!res || (!res.data && !res.error)) && <p class="muted">No data queried yet.</p>}
          </>
        )}
      </div>
    </section>
  );
}

function GraphControls({ panel, set }) {
  const [rangeText, setRangeText] = useState(formatDuration(panel.range));
  const [stepText, setStepText] = useState(panel.step ? String(panel.step) : '');
  useEffect(() => setRangeText(formatDuration(panel.range)), [panel.range]);

  const commitRange = () => {
    const ms = parseDuration(rangeText);
    if (ms) set({ range: ms });
    else setRangeText(formatDuration(panel.range));
  };
  const bump = (dir) => {
    const next = dir < 0 ? [...RANGE_STEPS].reverse().find((s) => s < panel.range) : RANGE_STEPS.find((s) => s > panel.range);
    if (next) set({ range: next });
  };
  const commitStep = () => {
    const v = parseDuration(stepText) ? parseDuration(stepText) / 1000 : parseFloat(stepText);
    set({ step: v > 0 ? v : null });
    if (!(v > 0)) setStepText('');
  };

  return (
    <div class="controls">
      <div class="group">
        <button type="button" class="btn" onClick={() => bump(-1)} aria-label="Shorter range">−</button>
        <input
          class="range-input"
          aria-label="Range"
          value={rangeText}
          onInput={(e) => setRangeText(e.currentTarget.value)}
          onBlur={commitRange}
          onKeyDown={(e) => e.key === 'Enter' && commitRange()}
          size={6}
        />
        <button type="button" class="btn" onClick={() => bump(1)} aria-label="Longer range">+</button>
      </div>
      <TimeInput label="End time" value={panel.end} onChange={(end) => set({ end })} range={panel.range} />
      <label class="group">
        <span class="muted">Step</span>
        <input
          aria-label="Resolution step in seconds"
          placeholder={`auto (${autoStep(panel.range)}s)`}
          value={stepText}
          onInput={(e) => setStepText(e.currentTarget.value)}
          onBlur={commitStep}
          onKeyDown={(e) => e.key === 'Enter' && commitStep()}
          size={9}
        />
      </label>
      <div class="group" role="radiogroup" aria-label="Display mode">
        <button type="button" class={!panel.stacked ? 'btn active' : 'btn'} aria-pressed={!panel.stacked ? 'true' : 'false'} onClick={() => set({ stacked: false })}>
          Lines
        </button>
        <button type="button" class={panel.stacked ? 'btn active' : 'btn'} aria-pressed={panel.stacked ? 'true' : 'false'} onClick={() => set({ stacked: true })}>
          Stacked
        </button>
      </div>
    </div>
  );
}

/** An end/evaluation time: empty means "now". Typed as UTC "YYYY-MM-DD HH:mm:ss". */
function TimeInput({ label, value, onChange, range }) {
  const [text, setText] = useState(value !== null ? formatTime(value) : '');
  useEffect(() => setText(value !== null ? formatTime(value) : ''), [value]);
  const commit = () => {
    const t = parseTime(text);
    if (text.trim() === '') onChange(null);
    else if (t !== null) onChange(t);
    else setText(value !== null ? formatTime(value) : '');
  };
  const shift = (dir) => {
    const base = value !== null ? value : Date.now();
    onChange(base + dir * (range || 3600e3) / 2);
  };
  return (
    <div class="group">
      {range && <button type="button" class="btn" onClick={() => shift(-1)} aria-label="Earlier">‹</button>}
      <input
        aria-label={`${label} (UTC)`}
        placeholder={`${label}: now`}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === 'Enter' && commit()}
        size={19}
      />
      {range && <button type="button" class="btn" onClick={() => shift(1)} aria-label="Later">›</button>}
      {value !== null && (
        <button type="button" class="btn" onClick={() => onChange(null)} title="Back to now">
          now
        </button>
      )}
    </div>
  );
}
