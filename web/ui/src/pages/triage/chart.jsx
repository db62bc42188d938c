// A small uPlot line chart for the triage steps: a few named series with
// their own colour, width and dash (a limit drawn dashed, the hot partition
// drawn thick), the query page's UTC axis, and a readout line under it
// instead of a floating box, so it also works on a phone.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { utcAxisTime } from '../../graph.jsx';
import { useTheme } from './ui.jsx';

function align(series, start, end, step) {
  const n = Math.max(1, Math.floor((end - start) / step + 1e-9) + 1);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const ys = series.map((s) => {
    const col = new Array(n).fill(null);
    for (const [t, v] of s.points) {
      const i = Math.round((t - start) / step);
      if (i >= 0 && i < n && Number.isFinite(v)) col[i] = v;
    }
    return col;
  });
  return [xs, ...ys];
}

/**
 * series: [{label, points: [[tSec, v], ...], color, width?, dash?}]
 * start, end, step: seconds; format: value → text for the axis and readout;
 * incrs: the y tick increments uPlot may choose from (powers of two for bytes).
 */
export function Chart({ series, start, end, step, height = 180, format = String, label, incrs }) {
  const host = useRef(null);
  const readout = useRef(null);
  const theme = useTheme();
  useEffect(() => {
    if (!host.current) return undefined;
    const data = align(series, start, end, step);
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#888';
    const grid = css.getPropertyValue('--grid').trim() || '#eee';
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const show = (u) => {
      const el = readout.current;
      if (!el) return;
      const i = u.cursor.idx;
      if (i === null || i === undefined) {
        el.textContent = '\u00a0';
        return;
      }
      const vals = series
        .map((s, si) => [s.label, data[si + 1][i]])
        .filter(([, v]) => v !== null)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([l, v]) => `${l}: ${format(v)}`);
      const t = new Date(data[0][i] * 1000).toISOString().slice(11, 19);
      el.textContent = `${t} UTC · ${vals.join(' · ') || 'no value'}`;
    };
    const u = new uPlot(
      {
        width: host.current.clientWidth || 320,
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } },
        ...utcAxisTime,
        axes: [axis, { ...axis, size: 64, values: (_u, ticks) => ticks.map(format), ...(incrs ? { incrs } : {}) }],
        // A series with only a few points (a pod seen for minutes) gets dots:
        // a line of two points at the edge of an hour is invisible.
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: s.width || 1.5, dash: s.dash, points: { show: s.points.length < 30, size: 5, fill: s.color }, spanGaps: false }))],
        hooks: { setCursor: [show] },
      },
      data,
      host.current,
    );
    const ro = new ResizeObserver(() => host.current && u.setSize({ width: host.current.clientWidth, height }));
    ro.observe(host.current);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [series, start, end, step, height, incrs, theme]);
  return (
    <figure class="tri-chart" aria-label={label}>
      <div ref={host} class="tri-chart-canvas" />
      <figcaption class="muted small mono tri-readout" ref={readout} aria-live="off">
        {'\u00a0'}
      </figcaption>
    </figure>
  );
}
