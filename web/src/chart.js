// A small monthly chart in plain SVG: bars for complaints received, a line for those processed.
// Two series and a few dozen points do not earn a chart library.

import { formatMonth, formatNumber } from './i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 130;
const MARGIN = { top: 10, right: 16, bottom: 22, left: 30 };

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text != null) element.textContent = text;
  return element;
}

/** points: [{month: 'YYYY-MM', received, processed}] */
export function monthlyChart(points, colours) {
  const root = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img' });
  if (!points.length) return root;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = Math.max(1, ...points.map((p) => p.received));
  const slot = plotWidth / points.length;
  const y = (value) => MARGIN.top + plotHeight * (1 - value / top);
  const x = (index) => MARGIN.left + slot * (index + 0.5);

  root.append(svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0),
                            class: 'axis' }));
  for (const value of [0, top]) {
    root.append(svg('text', { x: MARGIN.left - 4, y: y(value) + 3, 'text-anchor': 'end',
                              class: 'tick' }, formatNumber(value)));
  }
  points.forEach((point, i) => {
    const bar = svg('rect', {
      x: x(i) - slot * 0.35, width: slot * 0.7, y: y(point.received),
      height: Math.max(0, y(0) - y(point.received)), fill: colours.received,
      'data-month': point.month, 'data-received': point.received,
      'data-processed': point.processed,
    });
    bar.append(svg('title', {}, `${formatMonth(point.month)}: ${point.received} / ` +
                                `${point.processed}`));
    root.append(bar);
  });
  const every = Math.ceil(points.length / 4);
  points.forEach((point, i) => {
    if (i % every === 0 || i === points.length - 1) {
      root.append(svg('text', { x: x(i), y: HEIGHT - 6, 'text-anchor': 'middle',
                                class: 'tick' }, formatMonth(point.month)));
    }
  });
  const line = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.processed)
    .toFixed(1)}`).join('');
  root.append(svg('path', { d: line, fill: 'none', stroke: colours.processed,
                            'stroke-width': 2 }));
  return root;
}
