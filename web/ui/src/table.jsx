// The table tab: an instant query's result, one row per series.
import { formatSeries } from './series.js';

const MAX_ROWS = 10000;

export function ResultTable({ data }) {
  const { resultType, result } = data;
  if (resultType === 'scalar' || resultType === 'string') {
    return (
      <table class="data" data-testid="result-table">
        <tbody>
          <tr>
            <td class="mono">{resultType}</td>
            <td class="value mono">{result[1]}</td>
          </tr>
        </tbody>
      </table>
    );
  }
  if (!result || result.length === 0) return <p class="muted">Empty query result.</p>;
  const rows = result.slice(0, MAX_ROWS);
  return (
    <>
      {result.length > MAX_ROWS && (
        <p class="notice">
          Showing {MAX_ROWS} of {result.length} series.
        </p>
      )}
      <table class="data" data-testid="result-table">
        <tbody>
          {rows.map((s, i) => (
            <tr key={i}>
              <td class="mono series">{formatSeries(s.metric)}</td>
              <td class="value mono">
                {resultType === 'matrix'
                  ? (s.values || []).map(([t, v]) => (
                      <div key={t}>
                        {v} <span class="muted">@{t}</span>
                      </div>
                    ))
                  : s.value
                    ? s.value[1]
                    : s.histogram
                      ? `histogram count=${s.histogram[1].count} sum=${s.histogram[1].sum}`
                      : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
