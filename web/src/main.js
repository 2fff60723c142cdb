// The planner's map: wires the state (URL), the controls, the map and the panels together.

import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';

import * as maplibregl from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';

import { CATALOGUE, CHOROPLETH, CLUSTERS, HOTSPOTS, graphql } from './api.js';
import { renderControls } from './controls.js';
import { byId, h } from './dom.js';
import { setGroups, setLanguage, t, translatePage } from './i18n.js';
import {
  CLUSTER_EPS_M, CLUSTER_MIN_POINTS, COMPLAINT_LAYERS, HOTSPOT_BAND_M, HOTSPOT_CELL_M, buildStyle,
  choroplethColour, quantileBreaks, setVisibility, tileUrls,
} from './layers.js';
import { renderLegend } from './legend.js';
import { clusterInfo, complaintDetails, hotspotInfo, wardPanel } from './panel.js';
import {
  LAYER_IDS, exportUrl, graphqlFilter, localMonth, monthsBetween, readState, stateUrl,
  statusGroups,
} from './state.js';

maplibregl.setWorkerUrl(workerUrl);

const origin = window.location.origin;
const state = readState(window.location.href);
const catalogue = { categories: [], agencies: [], generations: [], months: [], inForce: null };
const classes = { choroplethBreaks: [] };
let pending = 0; // requests in flight: body[data-busy] tells automation when the page settled
let map;

// Automation's handle on the map, there from the first moment: a promise of the MapLibre map,
// made once the catalogue has loaded (then also `window.map`); rejected when the API is
// unreachable.
const mapHandle = {};
window.mapReady = new Promise((resolve, reject) => Object.assign(mapHandle, { resolve, reject }));
window.mapReady.catch(() => {}); // a page nobody automates must not report it as unhandled

/** Run `task` counted as pending; a failure is shown in the status line, not thrown. */
async function busy(task) {
  pending += 1;
  document.body.dataset.busy = '1';
  try {
    return await task();
  } catch (error) {
    if (error.name !== 'AbortError') {
      console.warn(error);
      byId('status-line').textContent = t('error', { message: error.message });
    }
    return undefined;
  } finally {
    pending -= 1;
    if (!pending) document.body.dataset.busy = '0';
  }
}

// One controller per analysis: a newer request cancels the older one.
const controllers = {};
function latest(name) {
  controllers[name]?.abort();
  controllers[name] = new AbortController();
  return controllers[name].signal;
}

async function loadCatalogue() {
  const [data, collection, wards] = await Promise.all([
    graphql(CATALOGUE),
    fetch(`${origin}/ogc/collections/complaints`).then((r) => r.json()),
    fetch(`${origin}/tiles/wards.json`).then((r) => r.json()),
  ]);
  catalogue.statuses = statusGroups(data.workflow);
  catalogue.categories = data.categories;
  catalogue.agencies = data.agencies;
  setGroups(data.categoryGroups);
  catalogue.generations = data.generations;
  // The API decides which generation is in force (Generation.inForce); the map shows wards.
  catalogue.inForce = data.generations.find((g) => g.inForce.includes('WARD'))?.name ?? null;
  const [first, last] = collection.extent?.temporal?.interval?.[0] ?? [];
  const now = new Date().toISOString();
  catalogue.months = monthsBetween(localMonth(first ?? now), localMonth(last ?? now));
  return wards.bounds ?? [-180, -85, 180, 85]; // no areas yet: the world
}

// Analyses (GraphQL) ---------------------------------------------------------------------------

async function loadChoropleth() {
  const signal = latest('choropleth');
  const data = await graphql(CHOROPLETH, { generation: state.generation,
                                           filter: graphqlFilter(state) }, signal);
  map.removeFeatureState({ source: 'wards', sourceLayer: 'wards' });
  for (const area of data.areaStats.areas) {
    map.setFeatureState({ source: 'wards', sourceLayer: 'wards', id: area.code },
                        { rate: area.per10kResidentsSmoothed, count: area.count });
  }
  classes.choroplethBreaks = quantileBreaks(
    data.areaStats.areas.map((a) => a.per10kResidentsSmoothed));
  map.setPaintProperty('ward-fill', 'fill-color', choroplethColour(classes.choroplethBreaks));
  if (state.ward) selectWard(state.ward);
  renderLegend(byId('legend'), state, classes);
}

async function loadHotspots() {
  const signal = latest('hotspots');
  const data = await graphql(HOTSPOTS, { cellSizeM: HOTSPOT_CELL_M, bandM: HOTSPOT_BAND_M,
                                         generation: state.generation,
                                         filter: graphqlFilter(state) }, signal);
  const features = data.hotspots.features.filter((f) => f.bin !== 0).map((f) => ({
    type: 'Feature', geometry: f.geometry,
    properties: { id: f.id, count: f.count, z: f.z, p: f.p, bin: f.bin },
  }));
  map.getSource('hotspots').setData({ type: 'FeatureCollection', features });
}

async function loadClusters() {
  const signal = latest('clusters');
  const data = await graphql(CLUSTERS, { epsM: CLUSTER_EPS_M, minPoints: CLUSTER_MIN_POINTS,
                                         filter: graphqlFilter(state) }, signal);
  const features = data.clusters.clusters.map((c) => ({
    type: 'Feature', geometry: c.hull,
    properties: { id: c.id, count: c.count,
                  categories: c.dominantCategories.map((d) => d.code).join(',') },
  }));
  map.getSource('clusters').setData({ type: 'FeatureCollection', features });
}

const ANALYSES = { choropleth: loadChoropleth, hotspots: loadHotspots, clusters: loadClusters };
const stale = new Set(Object.keys(ANALYSES));

/** Reload the analyses whose inputs changed; hidden ones wait until they are switched on. */
function refreshAnalyses() {
  for (const name of stale) {
    if (state.layers.has(name)) {
      stale.delete(name);
      busy(ANALYSES[name]);
    }
  }
}

// Ward panel and complaint popups ----------------------------------------------------------------

let selectedWard = null;
function selectWard(code) {
  if (selectedWard) {
    map.setFeatureState({ source: 'wards', sourceLayer: 'wards', id: selectedWard },
                        { selected: false });
  }
  selectedWard = code;
  if (code) {
    map.setFeatureState({ source: 'wards', sourceLayer: 'wards', id: code }, { selected: true });
  }
}

async function openWard(code) {
  state.ward = code;
  selectWard(code);
  saveUrl();
  const panel = byId('ward-panel');
  panel.hidden = false;
  panel.dataset.ward = code;
  panel.dataset.loaded = 'false';
  byId('ward-content').replaceChildren(h('p', { class: 'muted' }, t('loading')));
  const signal = latest('ward');
  const content = await busy(() => wardPanel(code, state, catalogue, signal));
  if (signal.aborted) return;
  byId('ward-content').replaceChildren(...(content ?? [h('p', { class: 'note' },
                                                          byId('status-line').textContent)]));
  panel.dataset.loaded = 'true';
}

function closeWard() {
  controllers.ward?.abort();
  state.ward = null;
  selectWard(null);
  byId('ward-panel').hidden = true;
  saveUrl();
}

let popup;
async function showComplaint(id, lngLat) {
  popup?.remove();
  const details = await busy(() => complaintDetails(id));
  if (!details) return;
  popup = new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(lngLat).setDOMContent(details)
    .addTo(map);
}

function onClick(event) {
  const [complaint] = map.queryRenderedFeatures(event.point, { layers: COMPLAINT_LAYERS });
  if (complaint) {
    showComplaint(complaint.properties.public_id, event.lngLat);
    return;
  }
  const [ward] = map.queryRenderedFeatures(event.point, { layers: ['ward-hit'] });
  if (ward) openWard(ward.properties.code);
}

// Hovering a hot spot or a cluster says what it is.
const hover = new maplibregl.Popup({ closeButton: false, closeOnClick: false,
                                     className: 'hover' });
function onHover(event) {
  const [feature] = map.queryRenderedFeatures(event.point,
                                              { layers: ['hotspot-fill', 'cluster-fill'] });
  if (!feature) {
    hover.remove();
    return;
  }
  const info = feature.layer.id === 'hotspot-fill' ? hotspotInfo(feature.properties)
    : clusterInfo(feature.properties, catalogue.categories);
  hover.setLngLat(event.lngLat).setDOMContent(info).addTo(map);
}

// State changes ----------------------------------------------------------------------------------

function saveUrl() {
  window.history.replaceState(null, '', stateUrl(state, window.location));
  updateExportLinks();
}

function updateExportLinks() {
  if (!map) return;
  const bounds = map.getBounds();
  const links = [
    ['complaints', 'geojson', 'GeoJSON'], ['complaints', 'gpkg', 'GeoPackage'],
    ['complaints', 'csv', 'CSV'], ['hotspot-grid', 'geojson', `${t('exportGrid')} GeoJSON`],
  ];
  byId('export-links').replaceChildren(...links.map(([layer, format, label]) => h('li', {},
    h('a', { href: exportUrl(origin, layer, format, state, bounds), download: '',
             dataset: { layer, format } },
      layer === 'complaints' ? `${t('exportComplaints')} ${label}` : label))));
}

function applyFilters(boundariesChanged) {
  const urls = tileUrls(origin, state);
  map.getSource('grid').setTiles([urls.grid]);
  map.getSource('complaints').setTiles([urls.complaints]);
  if (boundariesChanged) {
    map.getSource('wards').setTiles([urls.wards]);
    map.getSource('districts').setTiles([urls.districts]);
  }
  for (const name of Object.keys(ANALYSES)) stale.add(name);
  refreshAnalyses();
  if (state.ward) openWard(state.ward);
}

function onChange(patch) {
  const filtersChanged = ['categories', 'agencies', 'statuses', 'from', 'to', 'generation']
    .some((key) => key in patch);
  Object.assign(state, patch);
  if (patch.layers) {
    for (const id of LAYER_IDS) setVisibility(map, id, state.layers.has(id));
    refreshAnalyses();
    renderLegend(byId('legend'), state, classes);
  }
  if ('ward' in patch && !patch.ward) closeWard();
  if (filtersChanged) applyFilters('generation' in patch);
  saveUrl();
}

function renderTexts() {
  setLanguage(state.lang);
  document.title = t('title');
  translatePage();
  byId('language').textContent = t('language');
  renderControls(state, catalogue, onChange);
  renderLegend(byId('legend'), state, classes);
  updateExportLinks();
}

function switchLanguage() {
  state.lang = state.lang === 'vi' ? 'en' : 'vi';
  renderTexts();
  if (state.ward) openWard(state.ward);
  saveUrl();
}

// Start ------------------------------------------------------------------------------------------

async function start() {
  document.body.dataset.busy = '1';
  setLanguage(state.lang);
  translatePage();
  const bounds = await busy(loadCatalogue);
  if (!bounds) { // the API is unreachable: the status line says so
    mapHandle.reject(new Error(byId('status-line').textContent));
    return;
  }
  map = new maplibregl.Map({
    container: 'map-view', // not id="map", which the browser would make `window.map` too
    style: buildStyle(origin, state, catalogue.statuses),
    hash: 'view',
    bounds: window.location.hash.includes('view=') ? undefined : bounds,
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
  });
  window.map = map;
  mapHandle.resolve(map);
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  map.on('click', onClick);
  map.on('moveend', () => { updateExportLinks(); });
  map.on('mousemove', onHover);
  map.on('mouseout', () => hover.remove());
  for (const layer of ['ward-hit', ...COMPLAINT_LAYERS]) {
    map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
  }
  byId('language').addEventListener('click', switchLanguage);
  byId('close-ward').addEventListener('click', closeWard);
  renderTexts();
  map.on('load', () => {
    refreshAnalyses();
    if (state.ward) openWard(state.ward);
  });
}

start();
