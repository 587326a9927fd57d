// The admin node view (GET /admin/nodes/{id}): the node, its agent, the deployments placed on it and its events.
import { html, type SafeHtml } from '../../render/html.js';
import { table } from '../../render/table.js';
import type { DeploymentListRow, NodePageView } from '../admin-view-types.js';
import { customerLink, deploymentLink, heartbeatAge, stateBadge, time, upDown, yesNo } from './cells.js';
import { timelineTable } from './timeline-table.js';

/** GET /admin/nodes/{id}: a node, its agent, the deployments placed on it and its events. */
export function renderNode(v: NodePageView): SafeHtml {
  return html`
<h1>Node ${v.node.id} ${upDown(v.node.up)}</h1>
<dl class="facts">
<dt>state</dt><dd data-field="state">${upDown(v.node.up)}</dd>
<dt>farmer</dt><dd>${v.node.farmer}</dd>
<dt>agent connected</dt><dd>${yesNo(v.node.connected)}</dd>
${v.agent ? html`<dt>agent address</dt><dd>${v.agent.address}</dd><dt>last heartbeat</dt><dd>${heartbeatAge(v.agent.lastHeartbeatAgeSeconds)}</dd>` : ''}
</dl>
<section aria-labelledby="h-ndeployments">
<h2 id="h-ndeployments">Deployments on this node</h2>
${table<DeploymentListRow>(
  [
    { header: 'deployment', cell: (d) => deploymentLink(d.id), className: 'id' },
    { header: 'state', cell: (d) => stateBadge(d.state) },
    { header: 'customer', cell: (d) => customerLink(d.customer), className: 'id' },
    { header: 'created', cell: (d) => time(d.createdAt) },
  ],
  v.deployments,
  'None.',
  { id: 'node-deployments' },
)}
</section>
<section aria-labelledby="h-ntimeline">
<h2 id="h-ntimeline">Timeline (node and its agent)</h2>
${timelineTable(v.timeline, 'timeline', { newestFirst: true })}
</section>
`;
}
