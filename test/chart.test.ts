// bench/chart.ts, the SVG of `npm run bench:compare`: a well-formed document, one bar per measured
// ratio placed on a log scale, labels and target marks present, n/a rows without a bar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ratioChart, logScale, formatRatio, type RatioBar } from '../bench/chart.js';

const BARS: RatioBar[] = [
  { group: 'Spawn', label: 'spawn + exit ÷ BEAM', ratio: 0.031, target: 0.5, range: [0.02, 0.04] },
  { group: 'Spawn', label: 'bytes per idle process: BEAM ÷ ours', ratio: 0.7, target: 1 },
  { group: 'Messaging', label: 'ping-pong ÷ BEAM', ratio: 0.12, target: 0.1 },
  { group: 'Messaging', label: 'ring <tokens> & "friends"', ratio: 2.5 },
  { group: 'Messaging', label: 'fan-in ÷ BEAM', ratio: null, note: 'BEAM: erl not found' },
  { group: 'Jobs', label: 'job runner ÷ piscina', ratio: 6, target: 4 },
];

/** Start tags, end tags and self-closing tags must nest; returns the element names seen. */
function checkWellFormed(svg: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m !== null; m = tag.exec(svg)) {
    // Nothing tag-like may hide between two tags (an unescaped "<" in a text node).
    assert.ok(!svg.slice(last, m.index).includes('<'), `stray "<" before offset ${m.index}`);
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    seen.push(name!);
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClose) stack.push(name!);
  }
  assert.ok(!svg.slice(last).includes('<'), 'stray "<" after the last tag');
  assert.deepEqual(stack, [], 'unclosed elements');
  // Every "&" starts an entity.
  assert.doesNotMatch(svg, /&(?!amp;|lt;|gt;|quot;|#\d+;)/);
  return seen;
}

/** The bars as drawn: ratio and the x of the end that sits at the ratio (bars grow from 1×). */
function barEnds(svg: string): Array<{ ratio: number; end: number; x: number; width: number }> {
  return [...svg.matchAll(/<rect class="bar" data-ratio="([^"]+)" x="([^"]+)" y="[^"]+" width="([^"]+)"/g)].map((m) => {
    const ratio = Number(m[1]);
    const x = Number(m[2]);
    const width = Number(m[3]);
    return { ratio, x, width, end: ratio < 1 ? x : x + width };
  });
}

test('the chart is one well-formed SVG document', () => {
  const svg = ratioChart(BARS, { title: 'wippy-ts vs BEAM', subtitle: ['Node v24 & friends'] });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="[\d.]+" viewBox="0 0 \d+ [\d.]+"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const elements = checkWellFormed(svg);
  assert.equal(elements.filter((e) => e === 'svg').length, 2, 'exactly one <svg> element');
  assert.ok(!elements.includes('script') && !elements.includes('image'), 'no scripts or external images');
});

test('one bar per measured ratio, none for n/a rows', () => {
  const svg = ratioChart(BARS);
  const bars = barEnds(svg);
  assert.equal(bars.length, BARS.filter((b) => b.ratio !== null).length);
  assert.deepEqual(bars.map((b) => b.ratio), BARS.filter((b) => b.ratio !== null).map((b) => b.ratio));
  assert.match(svg, /class="na"[^>]*>BEAM: erl not found</);
});

test('labels, group headings, values and verdicts are present, escaped', () => {
  const svg = ratioChart(BARS, { title: 'wippy-ts vs BEAM' });
  for (const b of BARS) {
    const escaped = b.label.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    assert.ok(svg.includes(`>${escaped}</text>`), `label ${b.label}`);
  }
  for (const g of ['Spawn', 'Messaging', 'Jobs']) assert.ok(svg.includes(`>${g}</text>`), `group ${g}`);
  assert.ok(svg.includes('>0.031× missed</text>'));
  assert.ok(svg.includes('>0.12× met</text>'));
  assert.ok(svg.includes('>2.5×</text>'), 'no verdict without a target');
  assert.ok(svg.includes('>6× met</text>'));
  for (const tick of ['0.001×', '0.01×', '0.1×', '1×', '10×']) assert.ok(svg.includes(`>${tick}</text>`), `axis label ${tick}`);
});

test('log scale: monotonic, decades equally spaced, 1× in between', () => {
  const x = logScale(0.001, 10, 100, 900);
  assert.equal(x(0.001), 100);
  assert.equal(x(10), 900);
  const decades = [0.001, 0.01, 0.1, 1, 10].map(x);
  for (let i = 1; i < decades.length; i++) assert.ok(Math.abs(decades[i]! - decades[i - 1]! - 200) < 1e-9, 'a decade is 200 px');
  let prev = -Infinity;
  for (let r = 0.001; r <= 10; r *= 1.07) {
    assert.ok(x(r) > prev, `x(${r}) increases`);
    prev = x(r);
  }
  assert.throws(() => logScale(0, 10, 0, 1), RangeError);
});

test('bars end at their ratio on the log axis, in ratio order', () => {
  const ratios = [0.0015, 0.004, 0.02, 0.3, 0.9, 1.1, 3, 9];
  const svg = ratioChart(ratios.map((ratio, i) => ({ label: `r${i}`, ratio })));
  const bars = barEnds(svg);
  const parity = Number(/<line x1="([^"]+)"[^>]*class="parity"/.exec(svg)![1]);
  for (let i = 1; i < bars.length; i++) assert.ok(bars[i]!.end > bars[i - 1]!.end, `bar ${i} ends right of bar ${i - 1}`);
  for (const b of bars) {
    // Every bar touches the parity line: it grows from 1× to its ratio.
    const touching = b.ratio < 1 ? b.x + b.width : b.x;
    assert.ok(Math.abs(touching - parity) < 0.2, `bar for ${b.ratio} starts at 1× (${touching} vs ${parity})`);
  }
  // The positions follow the same log scale as the axis labels.
  const tick = (label: string) => Number(new RegExp(`<text x="([^"]+)" y="[^"]+" fill="[^"]+">${label.replace('.', '\\.')}</text>`).exec(svg)![1]);
  const perDecade = tick('1×') - tick('0.1×');
  for (const b of bars) {
    const expected = tick('1×') + Math.log10(b.ratio) * perDecade;
    assert.ok(Math.abs(b.end - expected) < 0.5, `bar for ${b.ratio} ends at ${b.end}, axis says ${expected}`);
  }
});

test('a vertical line at 1× and at each row\'s target', () => {
  const svg = ratioChart(BARS);
  assert.equal((svg.match(/class="parity"/g) ?? []).length, 1);
  const targets = [...svg.matchAll(/<line x1="([^"]+)"[^>]*class="target" data-target="([^"]+)"/g)];
  assert.deepEqual(targets.map((t) => Number(t[2])), BARS.filter((b) => b.target !== undefined).map((b) => b.target));
  const x = (r: number) => Number(targets.find((t) => Number(t[2]) === r)![1]);
  assert.ok(x(0.1) < x(0.5) && x(0.5) < x(1) && x(1) < x(4), 'target marks in log order');
});

test('ratios off the axis are clamped to its edge with an arrow', () => {
  const svg = ratioChart([{ label: 'tiny', ratio: 1e-5 }, { label: 'huge', ratio: 250 }, { label: 'mid', ratio: 1 }]);
  const [tiny, huge] = barEnds(svg);
  const x = (label: string) => Number(new RegExp(`<text x="([^"]+)" y="[^"]+" fill="[^"]+">${label}</text>`).exec(svg)![1]);
  assert.ok(Math.abs(tiny!.end - x('0.001×')) < 0.2);
  assert.ok(Math.abs(huge!.end - x('10×')) < 0.2);
  assert.equal((svg.match(/class="clipped"/g) ?? []).length, 2);
  assert.ok(svg.includes('>250×</text>'), 'the value column still shows the real ratio');
});

test('formatRatio keeps two significant digits', () => {
  assert.equal(formatRatio(0.004123), '0.0041');
  assert.equal(formatRatio(0.5), '0.5');
  assert.equal(formatRatio(1.234), '1.2');
  assert.equal(formatRatio(12.6), '13');
  assert.equal(formatRatio(1234.5), '1,235');
});
