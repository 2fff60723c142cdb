// The map's sources and layers, their colours, and the legend classes that go with them.
//
// Boundaries, the hexagon grid and complaints are the platform's vector tiles (complaints as
// pins at their representative points, and the lines and polygons drawn as footprints); the ward
// choropleth joins `areaStats` onto the ward tiles by code (feature state); Gi* hot spots and
// DBSCAN clusters are GraphQL answers drawn as GeoJSON.

import { boundaryParams, layerParams, withQuery } from './state.js';

export const HOTSPOT_CELL_M = 500; // the hotspot-grid layer's own cell, so the two line up
export const HOTSPOT_BAND_M = 1500; // neighbours: cells whose centres are within three cells
export const CLUSTER_EPS_M = 250;
export const CLUSTER_MIN_POINTS = 15;
export const COMPLAINTS_MIN_ZOOM = 13;

// ColorBrewer YlGn (choropleth), BuPu (grid); ArcGIS-style reds and blues for Gi* bins, so hot
// and cold spots stand out on top of the choropleth.
export const CHOROPLETH_COLOURS = ['#ffffcc', '#c2e699', '#78c679', '#31a354', '#006837'];
const NO_DATA_COLOUR = '#d9d9d9';
export const GRID_BREAKS = [1, 3, 6, 11, 21];
export const GRID_COLOURS = ['#edf8fb', '#b3cde3', '#8c96c6', '#8856a7', '#810f7c'];
export const HOTSPOT_BINS = [
  { bin: 3, colour: '#d7191c', kind: 'hot', level: 99 },
  { bin: 2, colour: '#fc8d59', kind: 'hot', level: 95 },
  { bin: 1, colour: '#fec980', kind: 'hot', level: 90 },
  { bin: -1, colour: '#c6dbef', kind: 'cold', level: 90 },
  { bin: -2, colour: '#6baed6', kind: 'cold', level: 95 },
  { bin: -3, colour: '#2166ac', kind: 'cold', level: 99 },
];
export const CLUSTER_COLOUR = '#3f007d';
export const STATUS_COLOURS = { open: '#e6550d', processed: '#525252' };
export const WARD_LINE = '#636363';
export const DISTRICT_LINE = '#252525';

// Which style layers each switchable layer shows; ward-hit stays on so wards can be clicked.
export const STYLE_LAYERS = {
  choropleth: ['ward-fill'],
  boundaries: ['ward-line', 'district-line'],
  grid: ['grid-fill'],
  hotspots: ['hotspot-fill', 'hotspot-line'],
  clusters: ['cluster-fill', 'cluster-line'],
  complaints: ['complaint-footprint-fill', 'complaint-footprint-line', 'complaint-circle'],
};

// The style layers a click on a complaint may hit: its pin, or the line or area it was drawn as.
export const COMPLAINT_LAYERS = ['complaint-circle', 'complaint-footprint-line',
                                 'complaint-footprint-fill'];

const EMPTY = { type: 'FeatureCollection', features: [] };

/** Tile URL templates for the current filters. */
export function tileUrls(origin, state) {
  const template = (layer, params) => withQuery(`${origin}/tiles/${layer}/{z}/{x}/{y}.mvt`,
                                                params);
  return {
    wards: template('wards', boundaryParams(state)),
    districts: template('districts', boundaryParams(state)),
    grid: template('hotspot-grid', layerParams(state)),
    complaints: template('complaints', layerParams(state)),
  };
}

/** The style: a plain background (or a raster basemap given by URL), then the layers;
 * complaints are coloured by the group of their status (`statuses`, see statusGroups). */
export function buildStyle(origin, state, statuses) {
  const urls = tileUrls(origin, state);
  const vector = (url, maxzoom) => ({ type: 'vector', tiles: [url], minzoom: 0, maxzoom });
  const sources = {
    wards: { ...vector(urls.wards, 14), promoteId: 'code' },
    districts: vector(urls.districts, 14),
    grid: vector(urls.grid, 16),
    complaints: vector(urls.complaints, 16),
    hotspots: { type: 'geojson', data: EMPTY },
    clusters: { type: 'geojson', data: EMPTY },
  };
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#f4f3ef' } }];
  if (state.basemap) {
    sources.basemap = { type: 'raster', tiles: [state.basemap], tileSize: 256 };
    layers.push({ id: 'basemap', type: 'raster', source: 'basemap' });
  }
  const wards = { source: 'wards', 'source-layer': 'wards' };
  layers.push(
    { id: 'ward-hit', type: 'fill', ...wards, paint: { 'fill-color': '#000', 'fill-opacity': 0 } },
    { id: 'ward-fill', type: 'fill', ...wards,
      paint: {
        'fill-color': choroplethColour([]),
        // Lighter when zoomed in, where points and hot spots need the room.
        'fill-opacity': ['interpolate', ['linear'], ['zoom'], 11, 0.75, 15, 0.35],
      } },
    { id: 'grid-fill', type: 'fill', source: 'grid', 'source-layer': 'hotspot-grid',
      paint: {
        'fill-color': stepColour(['get', 'count'], GRID_BREAKS, GRID_COLOURS),
        'fill-opacity': 0.8, 'fill-outline-color': '#ffffff',
      } },
    { id: 'hotspot-fill', type: 'fill', source: 'hotspots',
      paint: { 'fill-color': binColour(), 'fill-opacity': 0.7 } },
    { id: 'hotspot-line', type: 'line', source: 'hotspots',
      paint: { 'line-color': binColour(), 'line-width': 0.5 } },
    { id: 'cluster-fill', type: 'fill', source: 'clusters',
      filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': CLUSTER_COLOUR, 'fill-opacity': 0.08 } },
    { id: 'cluster-line', type: 'line', source: 'clusters',
      paint: { 'line-color': CLUSTER_COLOUR, 'line-width': 2.5, 'line-dasharray': [2, 1] } },
    { id: 'ward-line', type: 'line', ...wards,
      paint: {
        'line-color': WARD_LINE,
        'line-width': ['case', ['boolean', ['feature-state', 'selected'], false], 3, 0.6],
      } },
    { id: 'district-line', type: 'line', source: 'districts', 'source-layer': 'districts',
      paint: { 'line-color': DISTRICT_LINE, 'line-width': 1.6 } },
    // Footprints (lines and polygons), under the pins at their representative points.
    { id: 'complaint-footprint-fill', type: 'fill', source: 'complaints',
      'source-layer': 'complaints-footprints', minzoom: COMPLAINTS_MIN_ZOOM,
      filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': statusColour(statuses), 'fill-opacity': 0.25 } },
    { id: 'complaint-footprint-line', type: 'line', source: 'complaints',
      'source-layer': 'complaints-footprints', minzoom: COMPLAINTS_MIN_ZOOM,
      paint: {
        'line-color': statusColour(statuses),
        'line-width': ['interpolate', ['linear'], ['zoom'], 13, 1.5, 17, 4],
      } },
    { id: 'complaint-circle', type: 'circle', source: 'complaints', 'source-layer': 'complaints',
      minzoom: COMPLAINTS_MIN_ZOOM,
      paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 13, 2.5, 17, 6],
        'circle-color': statusColour(statuses),
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 0.8,
      } },
  );
  for (const [id, styleLayers] of Object.entries(STYLE_LAYERS)) {
    for (const layer of layers.filter((l) => styleLayers.includes(l.id))) {
      layer.layout = { visibility: state.layers.has(id) ? 'visible' : 'none' };
    }
  }
  return { version: 8, sources, layers };
}

/** Orange while open, grey once processed (`statuses`: the API's status groups). */
function statusColour(statuses) {
  return ['match', ['get', 'status'], statuses.open, STATUS_COLOURS.open,
          STATUS_COLOURS.processed];
}

function stepColour(input, breaks, colours) {
  const steps = breaks.slice(1).flatMap((limit, i) => [limit, colours[i + 1]]);
  return ['step', input, colours[0], ...steps];
}

function binColour() {
  return ['match', ['get', 'bin'], ...HOTSPOT_BINS.flatMap((b) => [b.bin, b.colour]), '#ffffff'];
}

/** Ward fill: the class of its rate (feature state), grey where the rate is unknown. */
export function choroplethColour(breaks) {
  const value = ['feature-state', 'rate'];
  if (!breaks.length) return NO_DATA_COLOUR;
  return ['case', ['==', ['typeof', value], 'number'],
    stepColour(value, breaks, CHOROPLETH_COLOURS), NO_DATA_COLOUR];
}

/** Quantile class breaks (lower bounds) of `values`: up to five classes, none repeated. */
export function quantileBreaks(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return [];
  const breaks = [];
  for (let k = 0; k < CHOROPLETH_COLOURS.length; k += 1) {
    const value = sorted[Math.floor((k * sorted.length) / CHOROPLETH_COLOURS.length)];
    if (!breaks.length || value > breaks.at(-1)) breaks.push(value);
  }
  return breaks;
}

export function setVisibility(map, id, visible) {
  for (const layer of STYLE_LAYERS[id]) {
    map.setLayoutProperty(layer, 'visibility', visible ? 'visible' : 'none');
  }
}
