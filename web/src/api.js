// The platform's GraphQL API: one POST per question, errors raised with their stable code.

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export async function graphql(query, variables = {}, signal = undefined) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  const body = await response.json().catch(() => ({}));
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code ?? 'ERROR');
  }
  if (!response.ok || !body.data) throw new ApiError(`HTTP ${response.status}`, 'HTTP');
  return body.data;
}

export const CATALOGUE = `
  query Catalogue {
    workflow { statuses { name open processed } }
    categories { code nameVi nameEn domain }
    categoryGroups { code nameVi nameEn }
    agencies { code nameVi nameEn kind }
    generations { name validFrom validTo inForce }
  }`;

export const CHOROPLETH = `
  query Choropleth($generation: String, $filter: ComplaintFilter) {
    areaStats(level: WARD, generation: $generation, filter: $filter) {
      total
      areas { code count per10kResidentsSmoothed }
    }
  }`;

export const HOTSPOTS = `
  query Hotspots($cellSizeM: Float!, $bandM: Float!, $generation: String,
                 $filter: ComplaintFilter) {
    hotspots(unit: GRID, cellSizeM: $cellSizeM, distanceBandM: $bandM,
             generation: $generation, filter: $filter) {
      features { id count z p bin geometry }
    }
  }`;

export const CLUSTERS = `
  query Clusters($epsM: Float!, $minPoints: Int!, $filter: ComplaintFilter) {
    clusters(epsM: $epsM, minPoints: $minPoints, filter: $filter) {
      noise
      clusters { id count hull dominantCategories { code share } }
    }
  }`;

export const WARD = `
  query Ward($code: String!, $generation: String, $filter: ComplaintFilter) {
    area(code: $code, generation: $generation) {
      code name nameEn population
      parent { name nameEn }
      generation { name }
    }
    stats(area: $code, filter: $filter) {
      summary {
        received processed processedRate satisfiedRate overdue medianHoursToResolution
      }
      byCategory { code rank kpi { received } }
      series(interval: MONTH) { start kpi { received processed } }
    }
  }`;

// Public fields only: the reporter's contact is never asked for.
export const COMPLAINT = `
  query Complaint($id: ID!) {
    complaint(id: $id) {
      id description status address createdAt resolvedAt rating
      category { code nameVi nameEn }
      ward { name nameEn }
    }
  }`;
