// The PromQL editor: CodeMirror 6 with the Prometheus project's PromQL
// language package, completing function names from its grammar and metric
// names, label names and values from this server's API.
import { useEffect, useRef } from 'preact/hooks';
import { EditorView, keymap, placeholder, drawSelection, highlightSpecialChars } from '@codemirror/view';
import { EditorState, Prec } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, completionStatus } from '@codemirror/autocomplete';
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { tags } from '@lezer/highlight';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';
import { href } from './paths.js';
import { onTenantChange, tenantHeaders } from './tenant.js';

// Colours come from CSS variables so the light and dark themes both apply.
const promqlHighlight = HighlightStyle.define([
  { tag: tags.number, color: 'var(--hl-number)' },
  { tag: tags.string, color: 'var(--hl-string)' },
  { tag: tags.keyword, color: 'var(--hl-keyword)', fontWeight: 'bold' },
  { tag: tags.function(tags.variableName), color: 'var(--hl-function)' },
  { tag: tags.labelName, color: 'var(--hl-label)' },
  { tag: tags.operator, color: 'var(--hl-operator)' },
  { tag: tags.modifier, color: 'var(--hl-keyword)', fontWeight: 'bold' },
  { tag: tags.comment, color: 'var(--hl-comment)', fontStyle: 'italic' },
  { tag: tags.invalid, color: 'var(--error)' },
]);

const theme = EditorView.theme({
  '&': { fontSize: '14px', background: 'var(--input-bg)', color: 'var(--fg)' },
  '&.cm-focused': { outline: 'none' },
  '.cm-content': { fontFamily: 'var(--mono)', padding: '6px 0', caretColor: 'var(--fg)' },
  '.cm-line': { padding: '0 8px' },
  '.cm-placeholder': { color: 'var(--muted)' },
  '.cm-tooltip': { background: 'var(--panel-bg)', border: '1px solid var(--border)', color: 'var(--fg)' },
  '.cm-tooltip-autocomplete > ul > li[aria-selected]': { background: 'var(--accent)', color: '#fff' },
  '.cm-completionDetail': { color: 'var(--muted)', marginLeft: '1em', fontStyle: 'normal' },
  '.cm-completionInfo': { maxWidth: '28em' },
  '.cm-diagnostic-error': { borderLeftColor: 'var(--error)' },
});

let sharedPromql = null;
// Another tenant has other metric names: editors made after the change
// (the pages remount on it) start with an empty cache.
onTenantChange(() => (sharedPromql = null));
// The tenant is read per request, so the client never sends a stale one.
const fetchWithTenant = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  for (const [k, v] of Object.entries(tenantHeaders())) headers.set(k, v);
  return fetch(input, { ...init, headers });
};
/** One completion client for every panel, so its metric-name cache is shared. */
function promqlExtension() {
  if (!sharedPromql) {
    sharedPromql = new PromQLExtension().setComplete({
      remote: { url: window.location.origin + href(''), fetchFn: fetchWithTenant, httpMethod: 'GET', cache: { maxAge: 5 * 60 * 1000 } },
      maxMetricsMetadata: 10000,
    });
  }
  return sharedPromql.asExtension();
}

/**
 * The editor owns its text: `value` is read when it is created and again
 * only when `revision` changes (Format, and any other outside rewrite).
 * Syncing on every `value` change instead lets effects of older renders,
 * which run after newer keystrokes, push stale text back into the editor,
 * and the two texts then replace each other forever (the page hangs while
 * typing).
 */
export function Editor({ value, revision = 0, onChange, onRun, autofocus }) {
  const host = useRef(null);
  const view = useRef(null);
  // Callbacks change on every render; the editor is created once.
  const cb = useRef({ onChange, onRun });
  cb.current = { onChange, onRun };
  const latest = useRef(value);
  latest.current = value;

  useEffect(() => {
    const runKey = Prec.highest(
      keymap.of([
        {
          key: 'Enter',
          run: (v) => {
            // Enter picks the highlighted completion when the list is open.
            if (completionStatus(v.state) === 'active') return false;
            cb.current.onRun(v.state.doc.toString());
            return true;
          },
        },
        { key: 'Shift-Enter', run: insertNewlineAndIndent },
      ]),
    );
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          runKey,
          highlightSpecialChars(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          closeBrackets(),
          autocompletion(),
          EditorView.lineWrapping,
          keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
          placeholder('Expression (press Shift+Enter for newlines)'),
          syntaxHighlighting(promqlHighlight),
          theme,
          promqlExtension(),
          EditorView.contentAttributes.of({ 'aria-label': 'PromQL expression' }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) cb.current.onChange(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    if (autofocus) v.focus();
    return () => v.destroy();
  }, []);

  useEffect(() => {
    const v = view.current;
    const text = latest.current;
    if (revision === 0 || !v || v.state.doc.toString() === text) return;
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
  }, [revision]);

  return <div class="editor" ref={host} />;
}
