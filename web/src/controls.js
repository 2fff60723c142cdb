// The filter controls and the layer switcher. Each control reports a change to the state
// (`onChange(patch)`); the controls are rebuilt from the state when the language changes.

import { byId, h } from './dom.js';
import {
  agencyLabel, categoryLabel, domainLabel, formatMonth, kindLabel, statusLabel, t,
} from './i18n.js';
import { LAYER_IDS } from './state.js';

function option(value, label, selected) {
  return h('option', { value, selected: selected || null }, label);
}

/** All, then per domain: the whole domain, then each of its categories. */
function categorySelect(categories, chosen) {
  const current = chosen.join(',');
  const domains = Map.groupBy(categories, (c) => c.domain);
  const groups = [...domains.keys()].sort((a, b) => domainLabel(a).localeCompare(domainLabel(b)))
    .map((domain) => {
      const members = domains.get(domain);
      const whole = members.map((c) => c.code).sort().join(',');
      return h('optgroup', { label: domainLabel(domain) },
        members.length > 1
          ? option(whole, t('allOfDomain', { domain: domainLabel(domain) }), whole === current)
          : null,
        members.map((c) => option(c.code, categoryLabel(c), c.code === current)));
    });
  const select = h('select', { id: 'category', name: 'category' },
    option('', t('allCategories'), !current), groups);
  if (current && select.value !== current) {  // a hand-made list from a URL: keep it selectable
    select.append(option(current, current, true));
  }
  return select;
}

/** All, then per kind (People's Committees, departments…): each agency. */
function agencySelect(agencies, chosen) {
  const current = chosen.join(',');
  const kinds = Map.groupBy(agencies, (a) => a.kind);
  const select = h('select', { id: 'agency', name: 'agency' },
    option('', t('allAgencies'), !current),
    [...kinds.keys()].map((kind) => h('optgroup', { label: kindLabel(kind) },
      kinds.get(kind).map((a) => option(a.code, agencyLabel(a), a.code === current)))));
  if (current && select.value !== current) select.append(option(current, current, true));
  return select;
}

function statusSelect(chosen, statuses) {
  const current = chosen.join(',');
  const choices = [
    ['', t('allStatuses')],
    [statuses.open.join(','), t('openStatuses')],
    [statuses.processed.join(','), t('processedStatuses')],
    ...statuses.all.map((s) => [s, statusLabel(s)]),
  ];
  const select = h('select', { id: 'status', name: 'status' },
    choices.map(([value, label]) => option(value, label, value === current)));
  if (current && select.value !== current) select.append(option(current, current, true));
  return select;
}

function monthSlider(id, months, value, label) {
  const index = Math.max(0, months.indexOf(value));
  const output = h('output', { for: id, id: `${id}-label` }, formatMonth(months[index]));
  const input = h('input', { type: 'range', id, min: 0, max: months.length - 1, step: 1,
                             value: index });
  input.addEventListener('input', () => { output.textContent = formatMonth(months[input.value]); });
  return h('label', { class: 'slider' }, h('span', {}, label), input, output);
}

function generationSelect(generations, chosen) {
  return h('select', { id: 'generation', name: 'generation' },
    option('', t('generationInForce'), !chosen),
    generations.map((g) => option(g.name, `${g.name} (${g.validFrom ?? '…'} – ${g.validTo ?? '…'})`,
                                  g.name === chosen)));
}

const selectedList = (select) => (select.value ? select.value.split(',') : []);

/** Build every control in #controls from `state`; report changes with `onChange(patch)`. */
export function renderControls(state, catalogue, onChange) {
  const { agencies, categories, generations, months, statuses } = catalogue;
  const from = state.from ?? months[0];
  const to = state.to ?? months.at(-1);
  const category = categorySelect(categories, state.categories);
  const status = statusSelect(state.statuses, statuses);
  const agency = agencySelect(agencies, state.agencies);
  const fromSlider = monthSlider('from-month', months, from, t('fromMonth'));
  const toSlider = monthSlider('to-month', months, to, t('toMonth'));
  const generation = generationSelect(generations, state.generation);

  category.addEventListener('change', () => onChange({ categories: selectedList(category) }));
  status.addEventListener('change', () => onChange({ statuses: selectedList(status) }));
  agency.addEventListener('change', () => onChange({ agencies: selectedList(agency) }));
  generation.addEventListener('change', () => onChange({ generation: generation.value || null,
                                                          ward: null }));
  const [fromInput, toInput] = [fromSlider, toSlider].map((s) => s.querySelector('input'));
  const window = () => {
    let [first, last] = [Number(fromInput.value), Number(toInput.value)];
    if (first > last) [first, last] = [last, first];
    // The whole span is no filter at all: the link then follows the data as it grows.
    const whole = first === 0 && last === months.length - 1;
    onChange({ from: whole ? null : months[first], to: whole ? null : months[last] });
  };
  fromInput.addEventListener('change', window);
  toInput.addEventListener('change', window);

  byId('controls').replaceChildren(
    h('label', {}, h('span', {}, t('category')), category),
    h('label', {}, h('span', {}, t('status')), status),
    h('label', {}, h('span', {}, t('agency')), agency),
    h('fieldset', { class: 'window' }, h('legend', {}, t('timeWindow')), fromSlider, toSlider),
    h('label', {}, h('span', {}, t('generation')), generation),
  );
  byId('layer-switcher').replaceChildren(...LAYER_IDS.map((id) => {
    const box = h('input', { type: 'checkbox', name: 'layer', value: id,
                             checked: state.layers.has(id) || null });
    box.addEventListener('change', () => {
      const layers = new Set(state.layers);
      if (box.checked) layers.add(id); else layers.delete(id);
      onChange({ layers });
    });
    return h('label', { class: 'layer-toggle' }, box, t(`layer_${id}`));
  }));
}
