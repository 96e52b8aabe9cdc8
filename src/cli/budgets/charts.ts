// Charts as inline SVG for the budgets page: horizontal bars, a gauge of used / granted / limit, and a
// line over days. No scripts and no network; each chart is an image with an aria-label that says what it
// shows in words (its values included), and every text that came from an object is escaped.

/** Text for HTML and SVG, in an element or a quoted attribute. */
export const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The gauge spans the page; bar and line charts sit two to a row. */
const WIDE = 760;
const HALF = 480;
const FONT = 'font-family="system-ui, sans-serif" font-size="12"';
/** At most this many characters of a label are drawn (all of it is in the row's tooltip and the aria-label). */
const LABEL_CHARS = 20;

const clip = (label: string) => (label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS - 1)}…` : label);
const round = (n: number) => Math.round(n * 10) / 10;

function svg(title: string, width: number, height: number, body: string, id?: string): string {
  return `<svg role="img" aria-label="${escapeHtml(title)}"${id ? ` id="${escapeHtml(id)}"` : ''} viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px" preserveAspectRatio="xMinYMin meet" ${FONT}>${body}</svg>`;
}

export interface Bar {
  label: string;
  value: number;
  /** The value as people read it ("1234.50 USD · 2 GPUs"). */
  text: string;
}

/** Horizontal bars, longest for the largest value; the aria-label lists every bar with its value. */
export function barChart(title: string, bars: readonly Bar[], options: { id?: string; colour?: string } = {}): string {
  const label = `${title}: ${bars.length === 0 ? 'nothing to show' : bars.map((bar) => `${bar.label} ${bar.text}`).join('; ')}`;
  const max = Math.max(0, ...bars.map((bar) => bar.value));
  const row = 26;
  const rows = bars
    .map((bar, i) => {
      const width = max > 0 ? round((Math.max(0, bar.value) / max) * 190) : 0;
      const y = i * row;
      return `<g><title>${escapeHtml(`${bar.label}: ${bar.text}`)}</title><text x="0" y="${y + 17}">${escapeHtml(clip(bar.label))}</text>` +
        `<rect x="140" y="${y + 5}" width="${width}" height="16" rx="2" fill="${options.colour ?? '#2b6cb0'}"></rect>` +
        `<text x="${round(146 + width)}" y="${y + 17}" fill="#333">${escapeHtml(bar.text)}</text></g>`;
    })
    .join('');
  return `<figure><figcaption>${escapeHtml(title)}</figcaption>${svg(label, HALF, Math.max(1, bars.length) * row + 4, rows, options.id)}</figure>`;
}

export interface GaugeRow {
  label: string;
  used: number;
  granted: number;
  /** Absent: no limit is set. */
  limit: number | undefined;
  /** The row in words ("9 used, 12 granted, limit 16 (56.3%)"). */
  text: string;
}

/**
 * One bar per amount on the scale of the largest of its limit, granted and used: the granted part light,
 * the used part dark over it (red beyond the limit), the limit a black mark.
 */
export function gauge(title: string, rows: readonly GaugeRow[], options: { id?: string } = {}): string {
  const label = `${title}: ${rows.map((row) => `${row.label}: ${row.text}`).join('; ')}`;
  const height = 46;
  const legend =
    '<g transform="translate(130 0)"><rect x="0" y="2" width="12" height="12" fill="#1f4e8c"></rect><text x="18" y="12">used</text>' +
    '<rect x="70" y="2" width="12" height="12" fill="#a9c7ec"></rect><text x="88" y="12">granted (held by clusters)</text>' +
    '<rect x="260" y="0" width="3" height="16" fill="#111"></rect><text x="270" y="12">limit</text></g>';
  const body = rows
    .map((row, i) => {
      const y = 26 + i * height;
      const scale = Math.max(row.limit ?? 0, row.granted, row.used);
      const x = (value: number) => (scale > 0 ? round(130 + (Math.max(0, value) / scale) * 600) : 130);
      const over = row.limit !== undefined && row.used > row.limit;
      const limit = row.limit !== undefined ? `<rect x="${Math.min(x(row.limit), 728)}" y="${y - 3}" width="3" height="24" fill="#111"></rect>` : '';
      return `<g><title>${escapeHtml(`${row.label}: ${row.text}`)}</title><text x="0" y="${y + 13}" font-weight="600">${escapeHtml(row.label)}</text>` +
        `<rect x="130" y="${y}" width="600" height="18" fill="#eef1f5"></rect>` +
        `<rect x="130" y="${y}" width="${round(x(row.granted) - 130)}" height="18" fill="#a9c7ec"></rect>` +
        `<rect x="130" y="${y + 4}" width="${round(x(row.used) - 130)}" height="10" fill="${over ? '#c0392b' : '#1f4e8c'}"></rect>${limit}` +
        `<text x="130" y="${y + 34}" fill="#333">${escapeHtml(row.text)}</text></g>`;
    })
    .join('');
  return `<figure><figcaption>${escapeHtml(title)}</figcaption>${svg(label, WIDE, 26 + rows.length * height, legend + body, options.id)}</figure>`;
}

export interface Point {
  /** The x label: a date. */
  label: string;
  value: number;
  text: string;
}

/** Values over days, oldest on the left, from zero up; every point has a tooltip and is in the aria-label. */
export function lineChart(title: string, points: readonly Point[], axis: (value: number) => string, options: { id?: string; colour?: string } = {}): string {
  const label = `${title}: ${points.map((point) => `${point.label} ${point.text}`).join('; ')}`;
  const [left, right, top, bottom] = [96, HALF - 40, 16, 186];
  const max = Math.max(0, ...points.map((point) => point.value));
  const x = (i: number) => round(points.length === 1 ? (left + right) / 2 : left + (i / (points.length - 1)) * (right - left));
  const y = (value: number) => round(max > 0 ? bottom - (Math.max(0, value) / max) * (bottom - top) : bottom);
  const ticks = (max > 0 ? [0, max / 2, max] : [0])
    .map((value) => `<line x1="${left}" x2="${right}" y1="${y(value)}" y2="${y(value)}" stroke="#e2e6ea"></line><text x="${left - 8}" y="${y(value) + 4}" text-anchor="end" fill="#555">${escapeHtml(axis(value))}</text>`)
    .join('');
  // At most about five dates under the axis, the last always.
  const step = Math.max(1, Math.ceil(points.length / 5));
  const last = points.length - 1;
  const dated = (i: number) => i === last || (i % step === 0 && last - i >= step / 2);
  const dates = points
    .map((point, i) => (dated(i) ? `<text x="${x(i)}" y="${bottom + 20}" text-anchor="middle" fill="#555">${escapeHtml(point.label)}</text>` : ''))
    .join('');
  const colour = options.colour ?? '#2b6cb0';
  const line = points.length > 1 ? `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((point, i) => `${x(i)},${y(point.value)}`).join(' ')}"></polyline>` : '';
  const dots = points.map((point, i) => `<circle cx="${x(i)}" cy="${y(point.value)}" r="3.5" fill="${colour}"><title>${escapeHtml(`${point.label}: ${point.text}`)}</title></circle>`).join('');
  return `<figure><figcaption>${escapeHtml(title)}</figcaption>${svg(label, HALF, bottom + 30, ticks + line + dots + dates, options.id)}</figure>`;
}
