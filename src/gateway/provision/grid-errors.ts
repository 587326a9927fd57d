// Decides what a failed grid call means for an order: try another node, fail the order, or retry later.

/**
 * What an order should do after a grid error:
 * - `another-node`: this node cannot take the VM (no room, rented, dedicated, down); another may.
 * - `retry-later`: the grid or the chain did not answer properly; the same request may work later.
 * - `fail-order`: no node will do until an operator acts (no twin, no funds, no KYC, a bad request).
 */
export type GridErrorAction = 'another-node' | 'retry-later' | 'fail-order';

/** How a grid error is handled: whether another try may work, what the order should do, and what an operator should do. */
export interface GridErrorClass {
  readonly action: GridErrorAction;
  /** True unless the order must fail: ProvisionError.retryable. */
  readonly retryable: boolean;
  readonly hint?: string;
}

const FUND_TWIN = "fund the gateway's twin with TFT";
const CREATE_TWIN = "create a twin for the gateway's mnemonic on this network (ThreeFold dashboard), or check `network`";
const VERIFY_KYC = "verify the gateway twin's account (KYC) in the ThreeFold dashboard";

/**
 * tfchain pallet error names (TFChainError `keyError` for a module error), and what each means
 * for an order. Names are tfchain's `#[pallet::error]` variants of pallet-smart-contract,
 * pallet-tfgrid, pallet-kvstore and pallet-balances, as listed in tfchain_client 2.9.2
 * `interfaces/chain/augment-api-errors.d.ts`; the meanings follow tfchain's
 * pallet-smart-contract `_create_node_contract` (NodeNotAvailableToDeploy: the node is down,
 * or dedicated and not rented by this twin) and `_cancel_contract`. A name missing here is
 * `retry-later`: still bounded by the order's provisioning attempts.
 */
export const TFCHAIN_KEY_ERRORS: Readonly<Record<string, { readonly action: GridErrorAction; readonly hint?: string }>> = {
  // The node or its farm cannot take this VM now.
  NodeNotAvailableToDeploy: { action: 'another-node' },
  NotEnoughResourcesOnNode: { action: 'another-node' },
  NodeHasRentContract: { action: 'another-node' },
  NodeHasActiveContracts: { action: 'another-node' },
  NodeNotExists: { action: 'another-node' },
  FarmNotExists: { action: 'another-node' },
  FarmIsNotDedicated: { action: 'another-node' },
  FarmHasNotEnoughPublicIPs: { action: 'another-node' },
  FarmHasNotEnoughPublicIPsFree: { action: 'another-node' },
  FailedToReserveIP: { action: 'another-node' },
  PricingPolicyNotExists: { action: 'another-node' },
  ContractIsNotUnique: { action: 'another-node' },
  NodeNotAuthorizedToDeployContract: { action: 'another-node' },
  // The gateway's twin or account must be fixed first: every node would refuse the same way.
  TwinNotExists: { action: 'fail-order', hint: CREATE_TWIN },
  TwinNotAuthorized: { action: 'fail-order' },
  TwinNotAuthorizedToUpdateContract: { action: 'fail-order' },
  TwinNotAuthorizedToCancelContract: { action: 'fail-order' },
  CannotUpdateContractInGraceState: { action: 'fail-order', hint: FUND_TWIN },
  UserDidNotSignTermsAndConditions: { action: 'fail-order', hint: "accept the grid's terms and conditions for the gateway's twin (ThreeFold dashboard)" },
  InsufficientBalance: { action: 'fail-order', hint: FUND_TWIN },
  ExistentialDeposit: { action: 'fail-order', hint: FUND_TWIN },
  LiquidityRestrictions: { action: 'fail-order', hint: FUND_TWIN },
  Expendability: { action: 'fail-order', hint: FUND_TWIN },
  // Token errors (keyError is the JSON text of sp_runtime TokenError).
  '"FundsUnavailable"': { action: 'fail-order', hint: FUND_TWIN },
  '"BelowMinimum"': { action: 'fail-order', hint: FUND_TWIN },
  '"NoFunds"': { action: 'fail-order', hint: FUND_TWIN },
  '"Frozen"': { action: 'fail-order', hint: FUND_TWIN },
  // Requests the chain refuses whatever the node: a bug or a grid_client/tfchain mismatch.
  NameExists: { action: 'fail-order' },
  NameNotValid: { action: 'fail-order' },
  NameContractNameTooShort: { action: 'fail-order' },
  NameContractNameTooLong: { action: 'fail-order' },
  InvalidContractType: { action: 'fail-order' },
  MethodIsDeprecated: { action: 'fail-order', hint: `upgrade @threefold/grid_client` },
  InvalidProviderConfiguration: { action: 'fail-order' },
  NoSuchSolutionProvider: { action: 'fail-order' },
  SolutionProviderNotApproved: { action: 'fail-order' },
  KeyIsTooLarge: { action: 'fail-order' },
  ValueIsTooLarge: { action: 'fail-order' },
  BadOriginError: { action: 'fail-order' },
  // The chain or the connection to it had a problem that is not about this request.
  GenericError: { action: 'retry-later' },
  UnknownError: { action: 'retry-later' },
  UnknownDispatchError: { action: 'retry-later' },
  TFTPriceValueError: { action: 'retry-later' },
  NumOverflow: { action: 'retry-later' },
  ContractWrongBillingLoopIndex: { action: 'retry-later' },
  ContractPaymentStateNotExists: { action: 'retry-later' },
  OffchainSignedTxCannotSign: { action: 'retry-later' },
  OffchainSignedTxAlreadySent: { action: 'retry-later' },
  OffchainSignedTxNoLocalAccountAvailable: { action: 'retry-later' },
};

/** A grid call that did not finish within the provisioner's timeout. */
export class GridTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer from the grid within ${timeoutMs} ms`);
    this.name = 'GridTimeoutError';
  }
}

/**
 * Classifies an error thrown by grid_client by its structured fields, never by its text.
 * `@threefold/types` errors carry `module` and `code` (2.9: Generic, tfGridNode, tfGridFarm,
 * tfGridWorkloads, tfGridKyc); tfchain_client errors are named "TFChainError" and carry
 * `keyError` (see TFCHAIN_KEY_ERRORS). Note: grid_client 2.9.2 wraps a TFChainError raised
 * while it applies a deployment's extrinsics into a GridClientError (Generic 1, `another-node`:
 * TwinDeploymentHandler.handle), so keyErrors reach hypha from connect, getObj and the key-value
 * store writes around deploy and delete. Errors without these fields get `unknownAction`:
 * connect() throws a plain Error when no grid service answers.
 */
export function classifyGridError(err: unknown, unknownAction: GridErrorAction = 'fail-order'): GridErrorClass {
  if (err instanceof GridTimeoutError) return classOf('retry-later');
  const e = (err ?? {}) as { module?: unknown; code?: unknown; name?: unknown; keyError?: unknown };
  if (e.name === 'TFChainError') {
    const known = typeof e.keyError === 'string' ? TFCHAIN_KEY_ERRORS[e.keyError] : undefined;
    return known === undefined ? classOf('retry-later') : classOf(known.action, known.hint);
  }
  switch (e.module) {
    case 'tfGridNode':
    case 'tfGridFarm':
      return classOf('another-node');
    case 'tfGridWorkloads':
      // WorkloadDeleteError 0, WorkloadDeployError 1, WorkloadUpdateError 2, WorkloadCreateError 3.
      return classOf(e.code === 2 ? 'fail-order' : 'another-node');
    case 'tfGridKyc':
      // Unverified 0, InvalidResponse 1, RateLimit 2, BadRequest 3, Unauthorized 4, AlreadyVerified 5.
      if (e.code === 1 || e.code === 2) return classOf('retry-later');
      return classOf('fail-order', e.code === 0 ? VERIFY_KYC : undefined);
    case 'Generic':
      return genericClass(e.code);
    case undefined:
      return classOf(unknownAction);
    default:
      return classOf('fail-order');
  }
}

/** `@threefold/types` Generic error codes (errors/base_error). */
function genericClass(code: unknown): GridErrorClass {
  switch (code) {
    case 1: // GridClientError: a deployment failed and was rolled back (chain errors included, see above).
      return classOf('another-node');
    case 3: // TimeoutError
    case 4: // ConnectionError
    case 5: // RMBError
    case 6: // InvalidResponse
    case 7: // RequestError
      return classOf('retry-later');
    case 8: // TwinNotExistError
      return classOf('fail-order', CREATE_TWIN);
    case 9: // InsufficientBalanceError
      return classOf('fail-order', FUND_TWIN);
    case 11: // KycError
      return classOf('fail-order', VERIFY_KYC);
    default: // TFChainError (0), ValidationError (2, also "account is not verified"), DeploymentKeyDeletionError (10)
      return classOf('fail-order');
  }
}

function classOf(action: GridErrorAction, hint?: string): GridErrorClass {
  return { action, retryable: action !== 'fail-order', ...(hint === undefined ? {} : { hint }) };
}
