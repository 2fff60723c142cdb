// Vietnamese and English labels. Vietnamese is the default: the page is for the city's staff.

const STRINGS = {
  vi: {
    title: 'Bản đồ điểm nóng phản ánh',
    subtitle: 'Dành cho cán bộ quy hoạch',
    language: 'English',
    filters: 'Bộ lọc',
    category: 'Lĩnh vực',
    allCategories: 'Tất cả lĩnh vực',
    allOfDomain: 'Tất cả: {domain}',
    status: 'Trạng thái',
    agency: 'Cơ quan xử lý',
    allAgencies: 'Tất cả cơ quan',
    allStatuses: 'Tất cả trạng thái',
    openStatuses: 'Đang xử lý (chưa xong)',
    processedStatuses: 'Đã xử lý xong',
    timeWindow: 'Thời gian',
    fromMonth: 'Từ tháng',
    toMonth: 'Đến tháng',
    generation: 'Địa giới hành chính',
    generationInForce: 'Đang có hiệu lực',
    layers: 'Lớp bản đồ',
    legend: 'Chú giải',
    layer_choropleth: 'Phản ánh theo phường/xã',
    layer_boundaries: 'Ranh giới phường và quận',
    layer_grid: 'Lưới lục giác 500 m',
    layer_hotspots: 'Điểm nóng / điểm lạnh (Gi*)',
    layer_clusters: 'Cụm phản ánh (DBSCAN)',
    layer_complaints: 'Phản ánh (khi phóng to)',
    choroplethUnit: 'phản ánh / 10.000 dân (làm trơn EB)',
    choroplethNoData: 'không có dân số',
    gridUnit: 'phản ánh mỗi ô',
    hotspotUnit: 'Gi*, ô 500 m, bán kính 1,5 km',
    hot: 'Điểm nóng',
    cold: 'Điểm lạnh',
    confidence: 'độ tin cậy {level} %',
    clusterUnit: 'ε = {eps} m, tối thiểu {min} phản ánh',
    clusterHull: 'Bao lồi của cụm',
    wardLine: 'Ranh giới phường/xã',
    districtLine: 'Ranh giới quận/huyện',
    statusOpen: 'Đang xử lý',
    statusProcessed: 'Đã xử lý',
    export: 'Xuất dữ liệu vùng đang xem',
    exportComplaints: 'Phản ánh',
    exportGrid: 'Lưới',
    close: 'Đóng',
    received: 'Tiếp nhận',
    processedRate: 'Đã xử lý',
    satisfiedRate: 'Hài lòng',
    overdue: 'Quá hạn',
    medianResolution: 'Thời gian giải quyết (trung vị)',
    topCategories: 'Lĩnh vực nhiều nhất',
    monthly: 'Theo tháng: tiếp nhận và đã xử lý',
    forFilters: 'Theo bộ lọc đang chọn',
    routedNote: 'Số liệu tính theo đơn vị được giao xử lý; phản ánh gửi theo địa giới khác không tính ở đây.',
    district: 'Quận/huyện',
    population: 'Dân số',
    hours: '{n} giờ',
    days: '{n} ngày',
    none: '—',
    loading: 'Đang tải…',
    error: 'Không tải được: {message}',
    complaint: 'Phản ánh',
    createdAt: 'Ngày gửi',
    resolvedAt: 'Ngày giải quyết',
    address: 'Địa chỉ',
    addressWithheld: 'Không công khai',
    ward: 'Phường/xã',
    rating: 'Đánh giá',
    cluster: 'Cụm {id}: {count} phản ánh',
    hotspotTitle: 'Ô {id}: {count} phản ánh',
    zScore: 'z = {z}, p = {p}',
  },
  en: {
    title: 'Complaint hotspot map',
    subtitle: 'For planners',
    language: 'Tiếng Việt',
    filters: 'Filters',
    category: 'Category',
    allCategories: 'All categories',
    allOfDomain: 'All of {domain}',
    status: 'Status',
    agency: 'Agency',
    allAgencies: 'All agencies',
    allStatuses: 'All statuses',
    openStatuses: 'Open (not yet processed)',
    processedStatuses: 'Processed',
    timeWindow: 'Time window',
    fromMonth: 'From',
    toMonth: 'To',
    generation: 'Boundaries',
    generationInForce: 'In force today',
    layers: 'Layers',
    legend: 'Legend',
    layer_choropleth: 'Complaints per ward',
    layer_boundaries: 'Ward and district boundaries',
    layer_grid: '500 m hexagon grid',
    layer_hotspots: 'Hot and cold spots (Gi*)',
    layer_clusters: 'Clusters (DBSCAN)',
    layer_complaints: 'Complaints (zoomed in)',
    choroplethUnit: 'complaints per 10,000 residents (EB-smoothed)',
    choroplethNoData: 'population unknown',
    gridUnit: 'complaints per cell',
    hotspotUnit: 'Gi*, 500 m cells, 1.5 km band',
    hot: 'Hot spot',
    cold: 'Cold spot',
    confidence: '{level} % confidence',
    clusterUnit: 'ε = {eps} m, at least {min} complaints',
    clusterHull: 'Convex hull of a cluster',
    wardLine: 'Ward boundary',
    districtLine: 'District boundary',
    statusOpen: 'Open',
    statusProcessed: 'Processed',
    export: 'Export this view',
    exportComplaints: 'Complaints',
    exportGrid: 'Grid',
    close: 'Close',
    received: 'Received',
    processedRate: 'Processed',
    satisfiedRate: 'Satisfied',
    overdue: 'Overdue',
    medianResolution: 'Median time to resolve',
    topCategories: 'Top categories',
    monthly: 'Per month: received and processed',
    forFilters: 'For the current filters',
    routedNote: 'Figures count complaints routed to this ward; those filed under other boundaries are not counted here.',
    district: 'District',
    population: 'Population',
    hours: '{n} h',
    days: '{n} days',
    none: '—',
    loading: 'Loading…',
    error: 'Could not load: {message}',
    complaint: 'Complaint',
    createdAt: 'Received on',
    resolvedAt: 'Resolved on',
    address: 'Address',
    addressWithheld: 'Withheld',
    ward: 'Ward',
    rating: 'Rating',
    cluster: 'Cluster {id}: {count} complaints',
    hotspotTitle: 'Cell {id}: {count} complaints',
    zScore: 'z = {z}, p = {p}',
  },
};

// Category groups are the city's own data (`categoryGroups`), set once the catalogue is loaded.
let groups = new Map();

/** Remember the API's category groups, for their labels. */
export function setGroups(list) {
  groups = new Map(list.map((g) => [g.code, { vi: g.nameVi, en: g.nameEn }]));
}

const KINDS = {
  ward_committee: { vi: 'UBND phường, xã', en: "Ward and commune People's Committees" },
  district_committee: { vi: 'UBND quận, huyện', en: "District People's Committees" },
  district_team: { vi: 'Đội trật tự đô thị', en: 'District urban-order teams' },
  city_department: { vi: 'Sở, ngành thành phố', en: 'City departments' },
  public_utility: { vi: 'Doanh nghiệp dịch vụ công', en: 'Public utilities' },
  police: { vi: 'Công an', en: 'Police' },
  other: { vi: 'Khác', en: 'Other' },
};

const STATUSES = {
  RECEIVED: { vi: 'Đã tiếp nhận', en: 'Received' },
  ASSIGNED: { vi: 'Đã giao xử lý', en: 'Assigned' },
  IN_PROGRESS: { vi: 'Đang xử lý', en: 'In progress' },
  RESOLVED: { vi: 'Đã giải quyết', en: 'Resolved' },
  REJECTED: { vi: 'Từ chối', en: 'Rejected' },
  DUPLICATE: { vi: 'Trùng lặp', en: 'Duplicate' },
  REOPENED: { vi: 'Mở lại', en: 'Reopened' },
  CLOSED: { vi: 'Đã đóng', en: 'Closed' },
};

const RATINGS = {
  SATISFIED: { vi: 'Hài lòng', en: 'Satisfied' },
  ACCEPTED: { vi: 'Chấp nhận', en: 'Accepted' },
  UNSATISFIED: { vi: 'Không hài lòng', en: 'Unsatisfied' },
};

export const LANGUAGES = ['vi', 'en'];
let current = 'vi';

export function setLanguage(lang) {
  current = LANGUAGES.includes(lang) ? lang : 'vi';
  document.documentElement.lang = current;
}

export function language() {
  return current;
}

/** The label `key` in the current language, with `{name}` placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = STRINGS[current][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

function pick(table, key) {
  return table[key]?.[current] ?? key;
}

export const domainLabel = (domain) => groups.get(domain)?.[current] ?? domain;
export const kindLabel = (kind) => pick(KINDS, kind.toLowerCase());
export const agencyLabel = (agency) => (current === 'vi' ? agency.nameVi : agency.nameEn);
export const statusLabel = (status) => pick(STATUSES, status);
export const ratingLabel = (rating) => pick(RATINGS, rating);
export const categoryLabel = (category) => (current === 'vi' ? category.nameVi : category.nameEn);
export const areaLabel = (area) => (current === 'en' && area.nameEn ? area.nameEn : area.name);

const LOCALES = { vi: 'vi-VN', en: 'en-GB' };

export function formatNumber(value, digits = 0) {
  return value.toLocaleString(LOCALES[current], {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
}

export function formatPercent(rate) {
  return rate == null ? t('none') : `${formatNumber(100 * rate, 1)} %`;
}

export function formatHours(hours) {
  if (hours == null) return t('none');
  return hours < 48 ? t('hours', { n: formatNumber(hours, 1) })
    : t('days', { n: formatNumber(hours / 24, 1) });
}

export function formatDate(iso) {
  return iso ? new Date(iso).toLocaleDateString(LOCALES[current], { timeZone: 'Asia/Ho_Chi_Minh' })
    : t('none');
}

/** "2026-03" as "03/2026" (vi) or "Mar 2026" (en). */
export function formatMonth(month) {
  const [year, number] = month.split('-');
  if (current === 'vi') return `${number}/${year}`;
  return new Date(Date.UTC(Number(year), Number(number) - 1, 15)).toLocaleDateString('en-GB', {
    month: 'short', year: 'numeric', timeZone: 'UTC',
  });
}

/** Fill every element with data-i18n="key" (text) in `root`. */
export function translatePage(root = document) {
  for (const element of root.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
}
