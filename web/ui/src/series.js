// Formatting of series and sample values, shared by the table and graph.

/** `name{a="b", c="d"}` as PromQL would print it. */
export function formatSeries(metric) {
  const { __name__: name = '', ...rest } = metric || {};
  const labels = Object.keys(rest)
    .sort()
    .map((k) => `${k}=${JSON.stringify(rest[k])}`)
    .join(', ');
  if (name === '' && labels === '') return '{}';
  return labels === '' ? name : `${name}{${labels}}`;
}

/** The API sends sample values as strings, with Go's spellings of the specials. */
export function parseValue(s) {
  switch (s) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default:
      return parseFloat(s);
  }
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A stable colour per series index: the palette first, then spaced hues. */
export function seriesColor(i) {
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${(i * 137.508) % 360}, 65%, 50%)`;
}
