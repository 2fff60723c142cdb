// What the planner is looking at, kept in the URL so that a link shows the same map.
//
// The query string holds the filters, the layers, the language and the open ward; MapLibre keeps
// the view (zoom/lat/lon) in the hash (#view=…). One state object, translated here into the
// three dialects the platform speaks: tile/export query parameters, the GraphQL ComplaintFilter,
// and the URL itself.

export const LAYER_IDS = ['choropleth', 'boundaries', 'grid', 'hotspots', 'clusters', 'complaints'];
const DEFAULT_LAYERS = ['choropleth', 'boundaries', 'hotspots', 'clusters', 'complaints'];
const CITY_OFFSET = '+07:00'; // Asia/Ho_Chi_Minh, no daylight saving: months are local months
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

const list = (text) => (text ? text.split(',').filter(Boolean) : []);

/** The complaint statuses and their groups, from the API's `workflow` (the server's lists). */
export function statusGroups(workflow) {
  const names = (test) => workflow.statuses.filter(test).map((s) => s.name);
  return {
    all: names(() => true), open: names((s) => s.open), processed: names((s) => s.processed),
  };
}

/** The state a URL describes; anything unknown or malformed falls back to the default. */
export function readState(url) {
  const params = new URL(url).searchParams;
  const layers = params.has('layers') ? list(params.get('layers')) : DEFAULT_LAYERS;
  const month = (name) => (MONTH.test(params.get(name) ?? '') ? params.get(name) : null);
  return {
    lang: params.get('lang') === 'en' ? 'en' : 'vi',
    categories: list(params.get('category')),
    agencies: list(params.get('agency')),
    statuses: list(params.get('status')),
    from: month('from'),
    to: month('to'),
    generation: params.get('generation') || null,
    layers: new Set(layers.filter((id) => LAYER_IDS.includes(id))),
    ward: params.get('ward') || null,
    basemap: params.get('basemap') || null,
  };
}

/** The URL of `state`, keeping the current hash (the map view). */
export function stateUrl(state, location) {
  const params = new URLSearchParams();
  if (state.lang !== 'vi') params.set('lang', state.lang);
  if (state.categories.length) params.set('category', state.categories.join(','));
  if (state.statuses.length) params.set('status', state.statuses.join(','));
  if (state.agencies.length) params.set('agency', state.agencies.join(','));
  if (state.from) params.set('from', state.from);
  if (state.to) params.set('to', state.to);
  if (state.generation) params.set('generation', state.generation);
  const layers = LAYER_IDS.filter((id) => state.layers.has(id));
  if (layers.join() !== DEFAULT_LAYERS.join()) params.set('layers', layers.join(','));
  if (state.ward) params.set('ward', state.ward);
  if (state.basemap) params.set('basemap', state.basemap);
  const query = params.toString().replaceAll('%2C', ',');
  return `${location.pathname}${query ? `?${query}` : ''}${location.hash}`;
}

/** "2026-03" → the month after, "2026-04". */
export function nextMonth(month) {
  const [year, number] = month.split('-').map(Number);
  return number === 12 ? `${year + 1}-01` : `${year}-${String(number + 1).padStart(2, '0')}`;
}

/** Every month from `first` to `last`, inclusive. */
export function monthsBetween(first, last) {
  const months = [first];
  while (months.at(-1) < last) months.push(nextMonth(months.at(-1)));
  return months;
}

/** The local (city) month of an instant, "YYYY-MM". */
export function localMonth(iso) {
  const shifted = new Date(new Date(iso).getTime() + 7 * 3600 * 1000);
  return shifted.toISOString().slice(0, 7);
}

const monthStart = (month) => `${month}-01T00:00:00${CITY_OFFSET}`;

/** The window as a half-open [createdFrom, createdTo) pair of instants (null: open). */
export function timeWindow(state) {
  return {
    createdFrom: state.from ? monthStart(state.from) : null,
    createdTo: state.to ? monthStart(nextMonth(state.to)) : null,
  };
}

/** The last microsecond before the start of the month after `month`: `datetime=` intervals
 * are closed, the window is half-open. */
function lastInstant(month) {
  const [year, number] = month.split('-').map(Number);
  const days = new Date(Date.UTC(year, number, 0)).getUTCDate();
  return `${month}-${String(days).padStart(2, '0')}T23:59:59.999999${CITY_OFFSET}`;
}

/** Query parameters of the complaint filters for tiles and exports (layers API). */
export function layerParams(state) {
  const params = new URLSearchParams();
  if (state.categories.length) params.set('category_code', state.categories.join(','));
  if (state.statuses.length) params.set('status', state.statuses.join(','));
  if (state.agencies.length) params.set('agency_code', state.agencies.join(','));
  if (state.from || state.to) {
    params.set('datetime', `${state.from ? monthStart(state.from) : '..'}/` +
                           `${state.to ? lastInstant(state.to) : '..'}`);
  }
  return params;
}

/** The GraphQL ComplaintFilter of the same filters. */
export function graphqlFilter(state) {
  const filter = {};
  if (state.categories.length) filter.categories = state.categories;
  if (state.statuses.length) filter.statuses = state.statuses;
  if (state.agencies.length) filter.agencyCodes = state.agencies;
  const window = timeWindow(state);
  if (window.createdFrom) filter.createdFrom = window.createdFrom;
  if (window.createdTo) filter.createdTo = window.createdTo;
  return filter;
}

/** The boundary layers' parameters: the chosen generation, or (none) the one in force. */
export function boundaryParams(state) {
  const params = new URLSearchParams();
  if (state.generation) params.set('generation', state.generation);
  return params;
}

/** An export of `layer` as `format` with the filters, limited to the box on screen. */
export function exportUrl(origin, layer, format, state, bounds) {
  const params = layerParams(state);
  const round = (value) => value.toFixed(5);
  params.set('bbox', [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
    .map((value, index) => round(Math.max(index % 2 ? -90 : -180, Math.min(index % 2 ? 90 : 180,
                                                                               value))))
    .join(','));
  return `${origin}/export/${layer}.${format}?${params.toString().replaceAll('%2C', ',')}`;
}

export function withQuery(path, params) {
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}
