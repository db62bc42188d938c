// Prometheus' duration syntax (1y2w3d4h5m6s7ms) and the UTC
// "YYYY-MM-DD HH:mm:ss" times its URLs carry in g0.end_input.

const UNITS = [
  ['y', 365 * 24 * 3600e3],
  ['w', 7 * 24 * 3600e3],
  ['d', 24 * 3600e3],
  ['h', 3600e3],
  ['m', 60e3],
  ['s', 1e3],
  ['ms', 1],
];

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Milliseconds, or null when `s` is not a Prometheus duration. */
export function parseDuration(s) {
  const text = (s || '').trim();
  if (text === '' || text === '0') return null;
  const m = DURATION_RE.exec(text);
  if (!m) return null;
  let ms = 0;
  UNITS.forEach(([, f], i) => {
    if (m[i + 1]) ms += parseInt(m[i + 1], 10) * f;
  });
  return ms > 0 ? ms : null;
}

export function formatDuration(ms) {
  if (!ms || ms <= 0) return '0s';
  let left = Math.round(ms);
  let out = '';
  for (const [u, f] of UNITS) {
    const n = Math.floor(left / f);
    if (n > 0) {
      out += `${n}${u}`;
      left -= n * f;
    }
  }
  return out;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Milliseconds since the epoch → "YYYY-MM-DD HH:mm:ss" in UTC. */
export function formatTime(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * Accepts what Prometheus' URLs and users write: "2024-01-02 03:04:05"
 * or "2024-01-02T03:04:05Z" (UTC when no zone is given) or a Unix time
 * in seconds. Returns milliseconds or null.
 */
export function parseTime(s) {
  const text = (s || '').trim();
  if (text === '') return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(parseFloat(text) * 1000);
  let iso = text.replace(' ', 'T');
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(iso)) iso += 'Z';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** "3m 12s ago" style age of a timestamp (ms) relative to now. */
export function ago(ms, now = Date.now()) {
  if (!ms || ms <= 0) return 'never';
  const diff = now - ms;
  if (diff < 0) return 'in the future';
  return `${humanizeDuration(diff)} ago`;
}

export function humanizeDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  const parts = [];
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m && !d) parts.push(`${m}m`);
  if (!d && !h) parts.push(`${sec}s`);
  return parts.join(' ');
}

/** Seconds (as the API gives evaluation durations) → "1.23ms". */
export function humanizeSeconds(sec) {
  if (sec === undefined || sec === null) return '';
  if (sec < 1e-3) return `${(sec * 1e6).toFixed(0)}µs`;
  if (sec < 1) return `${(sec * 1e3).toFixed(2)}ms`;
  return `${sec.toFixed(3)}s`;
}

/** A step that gives about `points` points across `rangeMs`, rounded to whole seconds. */
export function autoStep(rangeMs, points = 250) {
  return Math.max(1, Math.round(rangeMs / 1000 / points));
}
