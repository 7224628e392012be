/**
 * Small SVG line charts of a job's series (throughput, backpressure, checkpoint durations),
 * drawn in the theme's colours: a title with the newest value, the line, and the series'
 * range on the y axis.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 340;
const HEIGHT = 110;
const PAD = { left: 66, right: 8, top: 8, bottom: 18 };

/** How a chart writes its values. */
export type Formatter = (value: number) => string;

function svgElement<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  parent?: Element
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    el.setAttribute(name, String(value));
  }
  parent?.appendChild(el);
  return el;
}

/** Draw `points` (`[x, value]`, x ascending) into `host` (emptied first) as a line chart
 * titled `title`; `xLabel` says what x is. With no point, the chart says "no data yet". */
export function drawLineChart(
  host: HTMLElement,
  title: string,
  points: [number, number][],
  format: Formatter,
  xLabel: string,
  yMax?: number
): void {
  host.replaceChildren();
  host.dataset.points = String(points.length);
  const last = points.length ? format(points[points.length - 1][1]) : '–';
  const head = document.createElement('div');
  head.className = 'jp-SabotChart-title';
  head.textContent = `${title}: `;
  const value = document.createElement('span');
  value.className = 'jp-SabotChart-value';
  value.textContent = last;
  head.appendChild(value);
  host.appendChild(head);
  const svg = svgElement('svg', {
    class: 'jp-SabotChart-svg',
    width: WIDTH,
    height: HEIGHT,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img'
  });
  host.appendChild(svg);
  const left = PAD.left;
  const right = WIDTH - PAD.right;
  const top = PAD.top;
  const bottom = HEIGHT - PAD.bottom;
  svgElement('line', { class: 'jp-SabotChart-axis', x1: left, y1: bottom, x2: right, y2: bottom }, svg);
  svgElement('line', { class: 'jp-SabotChart-axis', x1: left, y1: top, x2: left, y2: bottom }, svg);
  const label = (x: number, y: number, text: string, anchor: string) => {
    const t = svgElement('text', { class: 'jp-SabotChart-label', x, y, 'text-anchor': anchor }, svg);
    t.textContent = text;
  };
  label(right, HEIGHT - 4, xLabel, 'end');
  if (points.length === 0) {
    label((left + right) / 2, (top + bottom) / 2, 'no data yet', 'middle');
    return;
  }
  const xs = points.map(p => p[0]);
  const ys = points.map(p => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const top_value = Math.max(yMax ?? 0, ...ys, 1e-9);
  label(left - 4, top + 8, format(top_value), 'end');
  label(left - 4, bottom, format(0), 'end');
  const px = (x: number) => (x1 === x0 ? (left + right) / 2 : left + ((x - x0) / (x1 - x0)) * (right - left));
  const py = (y: number) => bottom - (y / top_value) * (bottom - top);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`);
  svgElement('path', { class: 'jp-SabotChart-line', d: path.join(' '), fill: 'none' }, svg);
  for (const p of points.length <= 40 ? points : [points[points.length - 1]]) {
    svgElement('circle', { class: 'jp-SabotChart-dot', cx: px(p[0]), cy: py(p[1]), r: 2.5 }, svg);
  }
}
