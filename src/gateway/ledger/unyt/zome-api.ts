// The Unyt transactor zome API hypha calls: function names and wire shapes, each with the public file it was read from.
//
// The Unyt zome itself is not public. Every shape below was read (not copied) from code that calls
// it; the tag [..] says which:
// [RO]  unytco/raindex-orders bridge-orchestrator/src/orchestrator.rs (rave_engine =0.10.0,
//       holochain_zome_types 0.7): create_parked_link, get_parked_links_by_ea, execute_rave,
//       get_ledger, the ParkedData link tag and its size estimate; config.rs: the 900-byte tag cap.
// [WT]  holochain/wind-tunnel scenarios_common/unyt_scenario/src/unyt_agent.rs (role "alliance",
//       zome "transactor", every function name below), behaviour/smart_agreements.rs (create_commitment
//       with a negative amount is a payment, create_accept, get_incoming_raves + create_collect_from_rave,
//       execute_rave with strategy), behaviour/spend.rs (get_global_units_details).
// [SAL] unytco/smart_agreement_library docs/smart_agreement_rules.md and
//       library/holo_hosting_proof_of_service/*: a RAVE's output is `unyt_allocation`
//       [{receiver, amounts, sources}], each receiver collects its share.
// [HC]  holochain/holochain holochain_conductor_api ExternalApiWireError (serde tag "type",
//       snake_case): the error names a conductor answers with.

/** Role of the Unyt DNA in the hApp [WT setup.rs "alliance"]. */
export const DEFAULT_ROLE_NAME = 'alliance';
/** The zome every Unyt call goes to [WT unyt_agent.rs call_zome_alliance]. */
export const DEFAULT_ZOME_NAME = 'transactor';

/** Zome function names hypha calls on the transactor zome. */
export const UNYT_FN = {
  /** [WT] () -> Vec<UnitDefinitionExt>: the alliance's units; their position in the global definition keys UnitMaps. */
  getGlobalUnitsDetails: 'get_global_units_details',
  /** [WT][RO] () -> GlobalDefinitionExt; callers read `.id`. */
  getCurrentGlobalDefinition: 'get_current_global_definition',
  /** [RO] ActionHash (the agreement) -> Vec<Transaction>: its live, not yet consumed, parked links. */
  getParkedLinksByEa: 'get_parked_links_by_ea',
  /** [RO] CreateParkedLinkInput -> (ActionHashB64, AgentPubKey): parks content (here an invoice) on an agreement. */
  createParkedLink: 'create_parked_link',
  /** [RO][WT] RAVEExecuteInputs -> (RAVE, ActionHash): runs the agreement over the given links, consuming them. */
  executeRave: 'execute_rave',
  /** [WT] () -> Vec<Transaction>: RAVEs that allocated something to this agent and are not collected yet. */
  getIncomingRaves: 'get_incoming_raves',
  /** [WT] Transaction (as get_incoming_raves gave it) -> ActionHashB64: moves the allocation into this agent's balance. */
  createCollectFromRave: 'create_collect_from_rave',
} as const;

/** The functions the gateway's signing key is authorized for (a "listed" grant, nothing else). */
export const GATEWAY_FUNCTIONS: readonly string[] = Object.values(UNYT_FN);

/**
 * Error types a conductor answers with [HC]. A call that failed with one of them reached the
 * conductor and was refused, so nothing was written; any other failure (timeout, dropped
 * socket) leaves the outcome unknown. (`activate_app` is not an app-interface error in 0.7.)
 */
export const CONDUCTOR_ERROR_NAMES: ReadonlySet<string> = new Set([
  'internal_error',
  'deserialization',
  'dna_read_error',
  'ribosome_error',
  'zome_call_authentication_failed',
  'zome_call_unauthorized',
  'countersigning_session_error',
]);

/**
 * rave_engine UnitMap: decimal strings keyed by the unit's index in the global definition
 * ("0", "1", …) [RO UnitMap::from(vec![(unit_index, "10")]); WT base unit "0"]. Never by name.
 */
export type UnitMap = Record<string, string>;

/** [RO] The ParkedData a create_parked_link writes into the link tag, exactly as given. */
export interface ParkedData {
  readonly ct_role_id: string;
  readonly amount: UnitMap | null;
  readonly payload: InvoiceTagPayload;
}

/**
 * What hypha puts in an invoice's tag (hypha's own shape): the idempotency key, the
 * blake2b-256 of the invoice and receipt ids it stands for, and the farmer the agreement pays.
 * The invoice itself stays in the gateway's receipt log; the tag is capped (see parked-tag.ts).
 */
export interface InvoiceTagPayload {
  readonly idempotency_key: string;
  readonly invoice_hash: string;
  readonly farmer: string;
}

/**
 * [RO] CreateParkedLinkInput. `parked_link_type` is serde's externally tagged
 * ParkedLinkType::ParkedData((ParkedData, bool)); raindex always sends `true` there.
 */
export interface CreateParkedLinkInput {
  readonly ea_id: Uint8Array;
  readonly executor: Uint8Array | null;
  readonly parked_link_type: { readonly ParkedData: readonly [ParkedData, boolean] };
}

/**
 * [RO] A Transaction as get_parked_links_by_ea and get_incoming_raves answer it (test fixtures
 * parked_tx / parked_spend_tx): `details` is an externally tagged TransactionDetails, e.g.
 * {"Parked": {ea_id, executor, ct_role_id, attached_payload, consumed_link, …}} or
 * {"ParkedSpend": {ea_id, spender, executor, ct_role_id, attached_payload, …}}.
 */
export interface Transaction {
  readonly id: Uint8Array | string;
  readonly tx_type: string;
  readonly amount: UnitMap;
  readonly creator: Uint8Array | string;
  readonly timestamp: number;
  readonly details: Record<string, Record<string, unknown>>;
  readonly [field: string]: unknown;
}

/** [RO][WT] RAVEExecuteInputs. `strategy` is holochain GetStrategy: "Network" or "Local". */
export interface RaveExecuteInputs {
  readonly ea_id: Uint8Array;
  readonly executor_inputs: Record<string, string> | null;
  readonly links: readonly unknown[];
  readonly global_definition: Uint8Array;
  readonly lane_definitions: readonly Uint8Array[];
  readonly strategy: 'Network' | 'Local';
}

/**
 * [WT] UnitDefinitionExt, as far as hypha reads it. ASSUMED (the type is not public): each item
 * carries its index as `unit_index` (rave_engine UnitIndex = u8, docs.rs rave_engine types::units)
 * and its `name` and `symbol`.
 */
export interface UnitDefinitionExt {
  readonly unit_index: number | string;
  readonly name?: string;
  readonly symbol?: string;
}
