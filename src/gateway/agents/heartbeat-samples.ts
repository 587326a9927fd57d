// One connection's heartbeats turned into up-time samples: its nodes' and assigned VMs' subject keys made once, not per heartbeat.
import type { Heartbeat, HelloNode, VmAssignment } from '../../protocol/index.js';
import type { Sample } from '../../protocol/uptime.js';
import type { Subject, UptimeBook } from '../uptime/uptime-book.js';

/** One of the connection's nodes: its subject, and what the heartbeat being read said of it. */
interface NodeSlot {
  readonly subject: Subject;
  /** The number of the heartbeat that last reported this node (0: none yet). */
  reportedIn: number;
  up: boolean;
}

/** One VM placed on the connection's nodes: its subject and the node it is on. */
interface VmSlot {
  readonly subject: Subject;
  readonly node: string;
}

/**
 * What AgentHub records per heartbeat of one connection, with no per-heartbeat Map, key string or
 * array: with thousands of agents beating, those were a large part of what the gateway allocated
 * per heartbeat, and GC took about a fifth of its busy CPU (bench/agents --cpu-prof;
 * bench/heartbeat-ingest). Holds one slot per node of the hello and per VM assigned, nothing
 * else: bounded by the connection's own nodes and VMs, replaced with `assign`, dropped with the
 * connection.
 */
export class HeartbeatSamples {
  private readonly nodeSlots = new Map<string, NodeSlot>();
  private vmSlots = new Map<string, VmSlot>();
  private beats = 0;

  constructor(nodes: readonly HelloNode[], vms: readonly VmAssignment[]) {
    for (const n of nodes) if (!this.nodeSlots.has(n.id)) this.nodeSlots.set(n.id, { subject: `node:${n.id}`, reportedIn: 0, up: false });
    this.assign(vms);
  }

  /** The VMs placed on the connection's nodes now (after a deploy or destroy): those no longer placed are forgotten. */
  assign(vms: readonly VmAssignment[]): void {
    const slots = new Map<string, VmSlot>();
    for (const v of vms) {
      const kept = this.vmSlots.get(v.id);
      slots.set(v.id, kept !== undefined && kept.node === v.node ? kept : { subject: `vm:${v.id}`, node: v.node });
    }
    this.vmSlots = slots;
  }

  /** How many slots are held (nodes, VMs): what the bound is checked on. */
  get size(): { nodes: number; vms: number } {
    return { nodes: this.nodeSlots.size, vms: this.vmSlots.size };
  }

  /**
   * Records a heartbeat's samples: each of the connection's nodes as reported (a node it does not
   * speak for is skipped), then each assigned VM, up when reachable and its node reported up in this
   * same heartbeat (the last report wins when a node is named twice). Other VMs are skipped.
   */
  record(hb: Heartbeat, uptime: Pick<UptimeBook, 'record'>): void {
    const beat = ++this.beats;
    // Samples are read-only once recorded, so the subjects of one heartbeat in the same state share one.
    let upSample: Sample | undefined;
    let downSample: Sample | undefined;
    for (const n of hb.nodes) {
      const slot = this.nodeSlots.get(n.id);
      if (slot === undefined) continue;
      slot.reportedIn = beat;
      slot.up = n.up;
      uptime.record(slot.subject, n.up ? (upSample ??= { atMs: hb.atMs, up: true }) : (downSample ??= { atMs: hb.atMs, up: false }));
    }
    for (const v of hb.vms) {
      const slot = this.vmSlots.get(v.id);
      if (slot === undefined) continue;
      const node = this.nodeSlots.get(slot.node);
      const up = v.reachable && node !== undefined && node.reportedIn === beat && node.up;
      uptime.record(slot.subject, up ? (upSample ??= { atMs: hb.atMs, up: true }) : (downSample ??= { atMs: hb.atMs, up: false }));
    }
  }
}
