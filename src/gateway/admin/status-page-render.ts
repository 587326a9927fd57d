// The admin status page's rendering, in one import: the document and each view (one file each under render/), and the view types they render.
export type * from './admin-view-types.js';
export { CONTENT_SECURITY_POLICY, NOSCRIPT_REFRESH_SECONDS, REFRESH_SECONDS, renderDocument, type PageOptions } from './render/admin-document.js';
export { FRAGMENT_HEADER } from '../render/refresh-script.js';
export { renderOverview, type OverviewExtra } from './render/overview-page.js';
export { renderDeployment } from './render/deployment-page.js';
export { renderCustomer } from './render/customer-detail-page.js';
export { renderNode } from './render/node-page.js';
export { renderMessage } from './render/message-page.js';
export { axisTime, revenueChart } from './render/revenue-chart.js';
export { timelineTable, type TimelineOptions } from './render/timeline-table.js';
