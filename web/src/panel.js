// What a click shows: a ward's figures in the side panel, a complaint's public details in a
// popup. Every number is written as shown to people and, raw, in data-value (for automation).

import { COMPLAINT, WARD, graphql } from './api.js';
import { monthlyChart } from './chart.js';
import { h } from './dom.js';
import {
  areaLabel, categoryLabel, formatDate, formatHours, formatNumber, formatPercent, ratingLabel,
  statusLabel, t,
} from './i18n.js';
import { HOTSPOT_BINS, STATUS_COLOURS } from './layers.js';
import { graphqlFilter, localMonth } from './state.js';

const TOP_CATEGORIES = 5;

function figure(key, value, shown) {
  return h('div', { class: 'figure', dataset: { stat: key, value: value ?? '' } },
    h('span', { class: 'figure-value' }, shown), h('span', { class: 'figure-label' }, t(key)));
}

/** The ward's stats (for the page's filters) and, for its side panel, the elements to show. */
export async function wardPanel(code, state, catalogue, signal) {
  const data = await graphql(WARD, { code, generation: state.generation,
                                     filter: graphqlFilter(state) }, signal);
  const { area, stats } = data;
  if (!area) return [h('p', { class: 'note' }, t('none'))];
  const { summary } = stats;
  const names = new Map(catalogue.categories.map((c) => [c.code, c]));
  const top = stats.byCategory.filter((c) => c.kpi.received > 0).slice(0, TOP_CATEGORIES);
  const points = stats.series.map((p) => ({ month: localMonth(p.start), received: p.kpi.received,
                                            processed: p.kpi.processed }));
  return [
    h('header', {},
      h('h2', { id: 'ward-name' }, areaLabel(area)),
      h('p', { class: 'muted' }, `${area.code} · ${t('district')}: ` +
        `${area.parent ? areaLabel(area.parent) : t('none')} · ${area.generation.name}`),
      h('p', { class: 'muted' }, t('forFilters'))),
    h('div', { class: 'figures' },
      figure('received', summary.received, formatNumber(summary.received)),
      figure('processedRate', summary.processedRate, formatPercent(summary.processedRate)),
      figure('satisfiedRate', summary.satisfiedRate, formatPercent(summary.satisfiedRate)),
      figure('overdue', summary.overdue, formatNumber(summary.overdue)),
      figure('medianResolution', summary.medianHoursToResolution,
             formatHours(summary.medianHoursToResolution))),
    h('h3', {}, t('topCategories')),
    h('ol', { class: 'top-categories' }, top.map((c) => h('li', { dataset: { code: c.code,
                                                                       value: c.kpi.received } },
      h('span', {}, names.has(c.code) ? categoryLabel(names.get(c.code)) : c.code),
      h('span', { class: 'count' }, formatNumber(c.kpi.received))))),
    h('h3', {}, t('monthly')),
    monthlyChart(points, { received: '#9ecae1', processed: STATUS_COLOURS.processed }),
    area.generation.name !== catalogue.inForce ? h('p', { class: 'note' }, t('routedNote')) : null,
  ].filter(Boolean);
}

function row(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

/** A complaint's public details; the API is never asked for the reporter. */
export async function complaintDetails(id) {
  const { complaint } = await graphql(COMPLAINT, { id });
  return h('div', { class: 'complaint', dataset: { id: complaint.id } },
    h('h3', {}, `${t('complaint')} ${complaint.id}`),
    h('p', { class: 'description' }, complaint.description),
    h('dl', {},
      row(t('category'), categoryLabel(complaint.category)),
      row(t('status'), statusLabel(complaint.status)),
      row(t('createdAt'), formatDate(complaint.createdAt)),
      complaint.resolvedAt ? row(t('resolvedAt'), formatDate(complaint.resolvedAt)) : null,
      row(t('address'), complaint.address ?? t('addressWithheld')),
      complaint.ward ? row(t('ward'), areaLabel(complaint.ward)) : null,
      complaint.rating ? row(t('rating'), ratingLabel(complaint.rating)) : null));
}

/** Hover text of a Gi* cell: its count, z, p and confidence class. */
export function hotspotInfo(properties) {
  const bin = HOTSPOT_BINS.find((b) => b.bin === properties.bin);
  return h('div', { class: 'hover-info' },
    h('strong', {}, t('hotspotTitle', { id: properties.id, count: properties.count })),
    h('div', {}, t('zScore', { z: formatNumber(properties.z, 2),
                               p: properties.p.toPrecision(2) })),
    bin ? h('div', {}, `${t(bin.kind)}, ${t('confidence', { level: bin.level })}`) : null);
}

/** Hover text of a DBSCAN cluster: its size and dominant categories. */
export function clusterInfo(properties, categories) {
  const names = new Map(categories.map((c) => [c.code, c]));
  return h('div', { class: 'hover-info' },
    h('strong', {}, t('cluster', { id: properties.id, count: formatNumber(properties.count) })),
    h('ul', {}, properties.categories.split(',').filter(Boolean).map((code) => h('li', {},
      names.has(code) ? categoryLabel(names.get(code)) : code))));
}
