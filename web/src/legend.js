// One legend block per visible layer, with every class the layer draws.

import { h } from './dom.js';
import { formatNumber, t } from './i18n.js';
import {
  CHOROPLETH_COLOURS, CLUSTER_COLOUR, CLUSTER_EPS_M, CLUSTER_MIN_POINTS, DISTRICT_LINE,
  GRID_BREAKS, GRID_COLOURS, HOTSPOT_BINS, STATUS_COLOURS, WARD_LINE,
} from './layers.js';
import { LAYER_IDS } from './state.js';

const swatch = (colour, shape = 'box') => h('span', { class: `swatch ${shape}`,
                                                      style: `--colour: ${colour}` });
const item = (colour, label, shape) => h('li', {}, swatch(colour, shape), label);

/** "lower – below the next lower bound" labels for step classes. */
function classLabels(breaks, digits) {
  return breaks.map((lower, i) => (i + 1 < breaks.length
    ? `${formatNumber(lower, digits)} – ${formatNumber(breaks[i + 1], digits)}`
    : `≥ ${formatNumber(lower, digits)}`));
}

const BLOCKS = {
  choropleth: ({ choroplethBreaks }) => [
    t('choroplethUnit'),
    ...classLabels(choroplethBreaks, 1).map((label, i) => item(CHOROPLETH_COLOURS[i], label)),
    item('#d9d9d9', t('choroplethNoData')),
  ],
  boundaries: () => [null, item(WARD_LINE, t('wardLine'), 'line'),
                     item(DISTRICT_LINE, t('districtLine'), 'line thick')],
  grid: () => [t('gridUnit'),
               ...classLabels(GRID_BREAKS, 0).map((label, i) => item(GRID_COLOURS[i], label))],
  hotspots: () => [t('hotspotUnit'),
                   ...HOTSPOT_BINS.map((b) => item(b.colour,
                     `${t(b.kind)}, ${t('confidence', { level: b.level })}`))],
  clusters: () => [t('clusterUnit', { eps: CLUSTER_EPS_M, min: CLUSTER_MIN_POINTS }),
                   item(CLUSTER_COLOUR, t('clusterHull'), 'line dashed')],
  complaints: () => [null, item(STATUS_COLOURS.open, t('statusOpen'), 'dot'),
                     item(STATUS_COLOURS.processed, t('statusProcessed'), 'dot')],
};

export function renderLegend(container, state, classes) {
  container.replaceChildren(...LAYER_IDS.filter((id) => state.layers.has(id)).map((id) => {
    const [note, ...items] = BLOCKS[id](classes);
    return h('section', { class: 'legend-block', dataset: { layer: id } },
      h('h3', {}, t(`layer_${id}`)),
      note ? h('p', { class: 'note' }, note) : null,
      h('ul', {}, items));
  }));
}
