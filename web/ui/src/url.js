// The query page's whole state lives in the URL with Prometheus' own
// parameter names, so links from Grafana, Alertmanager's "source" and old
// bookmarks open the same panels here. Both UIs' dialects are read:
// Prometheus 2 (g0.tab=0|1, g0.stacked, g0.step_input) and Prometheus 3
// (g0.tab=graph|table, g0.display_mode, g0.res_type/res_step).
import { formatDuration, formatTime, parseDuration, parseTime } from './time.js';

const HOUR = 3600e3;
let nextId = 1;

export function newPanel(expr = '') {
  return { id: nextId++, expr, tab: 'table', range: HOUR, end: null, step: null, stacked: false };
}

export function decodePanels(search) {
  const q = new URLSearchParams(search);
  const panels = [];
  for (let i = 0; q.has(`g${i}.expr`); i++) {
    const get = (k) => q.get(`g${i}.${k}`);
    const p = newPanel(get('expr') || '');
    const tab = get('tab');
    if (tab === '0' || tab === 'graph') p.tab = 'graph';
    else if (tab === '1' || tab === 'table') p.tab = 'table';
    if (get('stacked') !== null) p.stacked = get('stacked') === '1';
    if (get('display_mode') !== null) p.stacked = get('display_mode') === 'stacked';
    const range = parseDuration(get('range_input'));
    if (range) p.range = range;
    const end = parseTime(get('end_input') || get('moment_input'));
    if (end !== null) p.end = end;
    const step = parseFloat(get('step_input'));
    if (step > 0) p.step = step;
    const resType = get('res_type');
    const resStep = parseFloat(get('res_step'));
    if ((resType === 'fixed' || resType === 'custom') && resStep > 0) p.step = resStep;
    panels.push(p);
  }
  return panels;
}

export function encodePanels(panels) {
  const q = new URLSearchParams();
  panels.forEach((p, i) => {
    const set = (k, v) => q.set(`g${i}.${k}`, v);
    set('expr', p.expr);
    set('tab', p.tab);
    set('display_mode', p.stacked ? 'stacked' : 'lines');
    set('range_input', formatDuration(p.range));
    if (p.end !== null) {
      set('end_input', formatTime(p.end));
      set('moment_input', formatTime(p.end));
    }
    if (p.step) set('step_input', String(p.step));
  });
  return q.toString();
}
