// The ratio chart of `npm run bench:compare`: one horizontal bar per ratio on a log scale, as a
// self-contained SVG string (no dependencies, no fonts, no scripts), so the README can embed
// bench/results/compare-latest.svg as an image.
//
// Reading it. The x axis is logarithmic, 0.001× to 10× by default: a ratio of 0.01 is as far left
// of parity as 100 is right of it, which is how ratios should be compared ("10× slower" and "10×
// faster" look the same size). Bars grow from the 1.0 line (parity) towards their ratio, so the
// length of a bar is how far we are from the reference, and its side says which way. Every ratio
// is oriented so that right is better (the caller inverts the memory ratios). A short black line
// across a row marks that row's target; the bar is green when the target is met, red when it is
// missed, grey-blue when the row has no target. A thin whisker shows the spread of the ratio over
// the rounds of the run. Ratios outside the axis are drawn to its edge with an arrow; rows without
// a ratio (reference not installed, workload failed) show their note instead of a bar.
//
// Text widths are estimated (6.6 px per character at 12 px) rather than measured: an SVG string
// cannot ask a renderer, and the estimate errs wide so labels never overlap the plot.

/** One row of the chart. */
export interface RatioBar {
  /** Row label, e.g. "spawn + exit, 2 workers ÷ BEAM". */
  label: string;
  /** The ratio, oriented so that larger is better; null when it could not be measured. */
  ratio: number | null;
  /** Lowest and highest ratio over the rounds (drawn as a whisker when they differ). */
  range?: [number, number];
  /** The target ratio (met when ratio >= target). */
  target?: number;
  /** Shown instead of the ratio when ratio is null ("n/a: erl not installed"). */
  note?: string;
  /** Rows with the same group are drawn under one heading, in the order given. */
  group?: string;
}

export interface ChartOptions {
  title?: string;
  /** Lines of smaller text under the title (machine, Node version, commit). */
  subtitle?: string[];
  /** Left end of the axis (default 0.001). */
  min?: number;
  /** Right end of the axis (default 10). */
  max?: number;
  /** Width of the whole image in px (default 980). */
  width?: number;
}

/** Row geometry in px: rows 22 high with 13-px bars, so 25 rows fit a laptop screen. */
const ROW = 22;
const BAR = 13;
const GROUP_GAP = 30;
const CHAR_PX = 6.6;
const PAD = 16;
/** Width of the value column right of the plot ("0.0041× missed"). */
const VALUE_COL = 120;

const COLOR = {
  met: '#2e7d32',
  missed: '#c62828',
  none: '#5b7db1',
  grid: '#e3e3e3',
  gridMinor: '#f2f2f2',
  axis: '#555555',
  parity: '#222222',
  target: '#000000',
  text: '#222222',
  muted: '#666666',
} as const;

/** Maps ratios in [min, max] to x pixels in [x0, x1] on a log scale. */
export function logScale(min: number, max: number, x0: number, x1: number): (ratio: number) => number {
  if (!(min > 0 && max > min)) throw new RangeError(`logScale needs 0 < min < max, got ${min}, ${max}`);
  const l0 = Math.log10(min);
  const span = Math.log10(max) - l0;
  return (ratio) => x0 + ((Math.log10(ratio) - l0) / span) * (x1 - x0);
}

/** "0.0041", "0.52", "1.3", "12", "1,234": two significant digits, no exponent for chart ranges. */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return String(r);
  if (r >= 100) return Math.round(r).toLocaleString('en-US');
  return String(Number(r.toPrecision(2)));
}

/**
 * `formatRatio`, but with a third significant digit when two would round the ratio onto its target
 * (1.78 against 1.8 would read "1.8× missed").
 */
export function formatRatioAgainst(r: number, target?: number): string {
  const s = formatRatio(r);
  if (target === undefined || r === target || !Number.isFinite(r) || r >= 100 || s !== formatRatio(target)) return s;
  // One more digit at a time until it differs from the target (1.7963 against 1.8: "1.796").
  for (let p = 3; p <= 6; p++) {
    const t = String(Number(r.toPrecision(p)));
    if (t !== String(Number(target.toPrecision(p)))) return t;
  }
  return String(Number(r.toPrecision(6)));
}

export function barStatus(bar: RatioBar): 'met' | 'missed' | 'none' {
  if (bar.target === undefined || bar.ratio === null) return 'none';
  return bar.ratio >= bar.target ? 'met' : 'missed';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds coordinates to 0.1 px so the SVG stays small and diffs stay readable. */
const px = (v: number): string => String(Math.round(v * 10) / 10);

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${px(x)}" y="${px(y)}"${attrs ? ` ${attrs}` : ''}>${esc(s)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line x1="${px(x1)}" y1="${px(y1)}" x2="${px(x2)}" y2="${px(y2)}" ${attrs}/>`;
}

/** The chart as an SVG document. */
export function ratioChart(bars: RatioBar[], opts: ChartOptions = {}): string {
  const min = opts.min ?? 0.001;
  const max = opts.max ?? 10;
  const width = opts.width ?? 980;
  const subtitle = opts.subtitle ?? [];

  const labelWidth = Math.min(440, Math.max(160, Math.ceil(Math.max(0, ...bars.map((b) => b.label.length)) * CHAR_PX) + PAD));
  const plotX0 = PAD + labelWidth;
  const plotX1 = width - PAD - VALUE_COL;
  const x = logScale(min, max, plotX0, plotX1);
  const clampX = (r: number) => x(Math.min(max, Math.max(min, r)));

  // Layout: title block, axis labels on top, the rows (with group headings), axis labels and legend.
  const titleH = opts.title ? 24 : 0;
  let y = PAD + titleH + subtitle.length * 16 + 8;
  const axisTop = y + 14;
  y = axisTop + 6;
  const rows: Array<{ bar: RatioBar; y: number } | { heading: string; y: number }> = [];
  let group: string | undefined;
  for (const bar of bars) {
    if (bar.group !== undefined && bar.group !== group) {
      group = bar.group;
      if (rows.length > 0) y += GROUP_GAP - ROW; // extra space above every heading but the first
      rows.push({ heading: group, y });
      y += ROW;
    }
    rows.push({ bar, y });
    y += ROW;
  }
  const plotTop = axisTop + 4;
  const plotBottom = y + 2;
  const legendY = plotBottom + 58;
  const height = legendY + 20 + PAD;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${px(height)}" viewBox="0 0 ${width} ${px(height)}" ` +
    `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" fill="${COLOR.text}">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${px(height)}" fill="#ffffff"/>`);
  if (opts.title) out.push(text(PAD, PAD + 14, opts.title, 'font-size="16" font-weight="600"'));
  subtitle.forEach((s, i) => out.push(text(PAD, PAD + titleH + 12 + i * 16, s, `fill="${COLOR.muted}"`)));

  // Grid: a line per decade (labelled above and below the plot), lighter lines at 2..9 × decade.
  out.push('<g class="grid">');
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (let k = 1; k <= 9; k++) {
      const r = k * 10 ** e;
      if (r < min * 0.999 || r > max * 1.001) continue;
      out.push(line(x(r), plotTop, x(r), plotBottom, `stroke="${k === 1 ? COLOR.grid : COLOR.gridMinor}" stroke-width="1"`));
    }
  }
  out.push('</g>');
  out.push('<g class="axis" text-anchor="middle" font-size="11">');
  for (let e = Math.ceil(Math.log10(min) - 1e-9); e <= Math.floor(Math.log10(max) + 1e-9); e++) {
    const r = 10 ** e;
    const label = `${formatRatio(r)}×`;
    out.push(text(x(r), axisTop, label, `fill="${COLOR.axis}"`));
    out.push(text(x(r), plotBottom + 14, label, `fill="${COLOR.axis}"`));
  }
  out.push('</g>');
  out.push(text((plotX0 + plotX1) / 2, plotBottom + 30,
    '← worse than the reference · ratio, log scale · better than the reference →', `text-anchor="middle" fill="${COLOR.muted}" font-size="11"`));

  // Rows.
  for (const row of rows) {
    if ('heading' in row) {
      out.push(text(PAD, row.y + 15, row.heading, 'font-weight="600" class="group"'));
      continue;
    }
    const { bar } = row;
    const mid = row.y + ROW / 2;
    const status = barStatus(bar);
    const color = COLOR[status];
    out.push(`<g class="row">`);
    out.push(text(PAD + 10, mid + 4, bar.label, 'class="label"'));
    if (bar.ratio === null || !Number.isFinite(bar.ratio) || bar.ratio <= 0) {
      const room = Math.max(8, Math.floor((plotX1 - x(1) - 12) / CHAR_PX));
      const note = bar.note ?? 'n/a';
      out.push(text(x(1) + 6, mid + 4, note.length > room ? `${note.slice(0, room - 1)}…` : note, `class="na" fill="${COLOR.muted}" font-style="italic"`));
      out.push(text(plotX1 + 8, mid + 4, 'n/a', `fill="${COLOR.muted}"`));
    } else {
      const end = clampX(bar.ratio);
      const start = x(1);
      const left = Math.min(start, end);
      out.push(`<rect class="bar" data-ratio="${bar.ratio}" x="${px(left)}" y="${px(mid - BAR / 2)}" ` +
        `width="${px(Math.max(1, Math.abs(end - start)))}" height="${BAR}" fill="${color}" fill-opacity="0.85"/>`);
      if (bar.ratio > max || bar.ratio < min) {
        // Off the axis: an arrow at the edge the bar runs into.
        const dir = bar.ratio > max ? 1 : -1;
        const tip = end + dir * 7;
        out.push(`<path class="clipped" d="M${px(end)} ${px(mid - 6)} L${px(tip)} ${px(mid)} L${px(end)} ${px(mid + 6)} Z" fill="${color}"/>`);
      }
      if (bar.range && bar.range[0] !== bar.range[1]) {
        const lo = clampX(bar.range[0]);
        const hi = clampX(bar.range[1]);
        out.push(line(lo, mid, hi, mid, `class="range" stroke="${COLOR.text}" stroke-width="1"`));
        out.push(line(lo, mid - 3, lo, mid + 3, `stroke="${COLOR.text}" stroke-width="1"`));
        out.push(line(hi, mid - 3, hi, mid + 3, `stroke="${COLOR.text}" stroke-width="1"`));
      }
      const verdict = status === 'none' ? '' : ` ${status}`;
      out.push(text(plotX1 + 8, mid + 4, `${formatRatioAgainst(bar.ratio, bar.target)}×${verdict}`, `class="value" fill="${status === 'none' ? COLOR.text : color}"`));
    }
    if (bar.target !== undefined) {
      const tx = clampX(bar.target);
      out.push(line(tx, row.y + 1, tx, row.y + ROW - 1, `class="target" data-target="${bar.target}" stroke="${COLOR.target}" stroke-width="2"`));
    }
    out.push('</g>');
  }

  // Parity line on top of the bars, so it stays visible where bars meet it.
  out.push(line(x(1), plotTop - 2, x(1), plotBottom, `class="parity" stroke="${COLOR.parity}" stroke-width="1.5"`));

  // Legend.
  const items: Array<[string, string]> = [[COLOR.met, 'target met'], [COLOR.missed, 'target missed'], [COLOR.none, 'no target']];
  let lx = PAD;
  out.push('<g class="legend">');
  for (const [c, label] of items) {
    out.push(`<rect x="${px(lx)}" y="${px(legendY - 9)}" width="14" height="10" fill="${c}" fill-opacity="0.85"/>`);
    out.push(text(lx + 19, legendY, label));
    lx += 24 + label.length * CHAR_PX + 12;
  }
  out.push(line(lx + 4, legendY - 11, lx + 4, legendY + 2, `stroke="${COLOR.target}" stroke-width="2"`));
  out.push(text(lx + 12, legendY, 'target'));
  lx += 12 + 6 * CHAR_PX + 14;
  out.push(line(lx, legendY - 4, lx + 22, legendY - 4, `stroke="${COLOR.text}" stroke-width="1"`));
  out.push(line(lx, legendY - 7, lx, legendY - 1, `stroke="${COLOR.text}" stroke-width="1"`));
  out.push(line(lx + 22, legendY - 7, lx + 22, legendY - 1, `stroke="${COLOR.text}" stroke-width="1"`));
  out.push(text(lx + 28, legendY, 'lowest–highest over the rounds'));
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}
