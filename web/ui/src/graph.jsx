// The graph tab: a range query drawn with uPlot. One uPlot instance per
// result; the legend is ours (click isolates a series, Ctrl/Cmd-click
// toggles it) and the hover box shows the series nearest the cursor.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { alignMatrix } from './matrix.js';
import { formatSeries, seriesColor } from './series.js';

// Up to this many series, hovering dims the others and marks each one's
// value at the cursor.
const MAX_DIMMED = 40;

// Every time the UI shows or takes is UTC (the inputs, the URL, the hover
// box), so the axis is too, in 24-hour ISO-like notation rather than
// uPlot's US defaults ("2:15pm", "12/2"). The triage charts share it.
export const utcAxisTime = {
  tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
  fmtDate: (tpl) =>
    uPlot.fmtDate(
      tpl
        .replace('{M}/{D}/{YY}', '{YYYY}-{MM}-{DD}')
        .replace('{M}/{D}', '{MM}-{DD}')
        .replace('{h}:{mm}{aa}', '{HH}:{mm}')
        .replace('{h}{aa}', '{HH}:00')
        .replace('{aa}', ''),
    ),
};

function stack(ys, shown) {
  const acc = new Array(ys[0]?.length || 0).fill(0);
  return ys.map((col, si) => {
    if (!shown[si]) return col;
    return col.map((v, i) => {
      if (v === null) return null;
      acc[i] += v;
      return acc[i];
    });
  });
}

export function Graph({ result, start, end, step, stacked }) {
  const host = useRef(null);
  const plot = useRef(null);
  // Which series are shown, kept with the result it belongs to: a new
  // result shows all its series without a second render of the legend.
  const [vis, setVis] = useState(() => ({ result, shown: result.map(() => true) }));
  const shown = useMemo(() => (vis.result === result ? vis.shown : result.map(() => true)), [vis, result]);
  const setShown = (f) => setVis((cur) => ({ result, shown: f(cur.result === result ? cur.shown : result.map(() => true)) }));
  const tipRef = useRef(null);
  const wrapRef = useRef(null);

  // Before the browser paints: the legend and the plot appear in one frame.
  useLayoutEffect(() => {
    const [xs, ys] = alignMatrix(result, start, end, step);
    const data = [xs, ...(stacked ? stack(ys, shown) : ys)];
    const css = getComputedStyle(document.documentElement);
    const axisColor = css.getPropertyValue('--muted').trim() || '#888';
    const gridColor = css.getPropertyValue('--grid').trim() || '#eee';
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    // With many series, dimming the others redraws every path on each
    // change of the nearest series, and a cursor dot per series moves
    // hundreds of elements per mouse move (the 500-series benchmark, see
    // docs/benchmarks.md): both only while they stay cheap.
    const few = result.length <= MAX_DIMMED;
    const opts = {
      width: host.current.clientWidth || 600,
      height: 320,
      legend: { show: false },
      cursor: { focus: { prox: 24 }, drag: { x: true, y: false }, points: { show: few } },
      focus: { alpha: few ? 0.3 : 1 },
      // The whole requested range, not only the steps that have data.
      scales: { x: { time: true, range: () => [start / 1000, end / 1000] } },
      ...utcAxisTime,
      axes: [axis, { ...axis, size: 70 }],
      series: [
        {},
        ...result.map((s, i) => ({
          label: formatSeries(s.metric),
          stroke: seriesColor(i),
          // Hairlines rasterize far faster than stroked outlines: with
          // hundreds of series the 1.5px line alone cost most of the draw.
          width: few ? 1.5 : 1,
          show: shown[i],
          fill: stacked ? seriesColor(i) + (i < 10 ? '55' : '') : undefined,
          points: { show: false },
          spanGaps: false,
        })),
      ],
      hooks: {
        // The hover box is updated by hand: re-rendering the legend on
        // every mouse move would be slow with hundreds of series.
        setCursor: [(u) => updateTip(u)],
        setSeries: [(u, si) => updateTip(u, si)],
      },
    };
    let focused = null;
    const updateTip = (u, si) => {
      if (si !== undefined) focused = si;
      const el = tipRef.current;
      const wrap = wrapRef.current;
      if (!el || !wrap) return;
      const idx = u.cursor.idx;
      const s = focused ? focused - 1 : -1;
      const v = s >= 0 && idx !== null && idx !== undefined ? ys[s]?.[idx] : null;
      if (v === null || v === undefined || !u.series[focused]?.show) {
        el.hidden = true;
        return;
      }
      el.hidden = false;
      const over = u.over.getBoundingClientRect();
      const box = wrap.getBoundingClientRect();
      const x = over.left - box.left + u.cursor.left;
      const y = over.top - box.top + u.cursor.top;
      el.style.left = `${Math.min(x + 12, box.width - 260)}px`;
      el.style.top = `${y + 12}px`;
      el.querySelector('.tip-time').textContent = new Date(xs[idx] * 1000).toISOString().replace('T', ' ').replace('.000Z', 'Z').replace('Z', ' UTC');
      el.querySelector('.tip-value').textContent = String(v);
      el.querySelector('.tip-swatch').style.background = seriesColor(s);
      el.querySelector('.tip-series').textContent = formatSeries(result[s].metric);
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, data, host.current);
    // The observer also fires once right away: setSize redraws even at the
    // same size, which drew every graph twice.
    const ro = new ResizeObserver(() => {
      const w = host.current ? host.current.clientWidth : 0;
      if (plot.current && w > 0 && w !== plot.current.width) plot.current.setSize({ width: w, height: 320 });
    });
    ro.observe(host.current);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [result, start, end, step, stacked, stacked ? shown : null]);

  // Without stacking, visibility changes need no redraw from scratch.
  useEffect(() => {
    if (!stacked && plot.current) {
      shown.forEach((s, i) => {
        if (plot.current.series[i + 1] && plot.current.series[i + 1].show !== s) plot.current.setSeries(i + 1, { show: s });
      });
    }
  }, [shown]);

  const clickLegend = (i, e) => {
    if (e.ctrlKey || e.metaKey) {
      setShown((sh) => sh.map((v, j) => (j === i ? !v : v)));
      return;
    }
    setShown((sh) => {
      const only = sh.every((v, j) => v === (j === i));
      return sh.map((_, j) => only || j === i);
    });
  };

  return (
    <div class="graph">
      <div class="graph-wrap" ref={wrapRef}>
        <div class="graph-canvas" ref={host} />
        <div class="graph-tip" ref={tipRef} hidden data-testid="graph-tip">
          <div class="muted tip-time" />
          <div>
            <span class="swatch tip-swatch" /> <b class="tip-value" />
          </div>
          <div class="mono small tip-series" />
        </div>
      </div>
      <ul class="legend" aria-label="Series (click to isolate, Ctrl+click to toggle)">
        {result.map((s, i) => (
          <li key={i}>
            <button
              type="button"
              class={shown[i] ? 'legend-item' : 'legend-item off'}
              aria-pressed={shown[i] ? 'true' : 'false'}
              onClick={(e) => clickLegend(i, e)}
              title="Click to show only this series, Ctrl+click to toggle it"
            >
              <span class="swatch" style={{ background: seriesColor(i) }} />
              <span class="mono">{formatSeries(s.metric)}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
