// Builds the CEL variables for one review. The request-wide values (object, request, ...) are shared
// by every policy as JSON, converted to CEL values only for the interpreter (and by the compiled code
// only where an operation needs a CEL value); `variables` is per policy, lazy and memoized
// as in Kubernetes, so a variable no validation reads costs nothing.
import type { CelActivation, ConversionMemo, JsonInputs } from '../cel/program.js';
import { celOf } from '../cel/codegen/runtime.js';
import { chargeCost, lastMeteredCost } from '../cel/cost.js';
import { celOfJson, toCelValue } from '../cel/values.js';
import type { CompiledPolicy, CompiledVariable } from '../policy/types.js';
import { coverageValue } from './coverage-value.js';
import { evaluateExpression } from './evaluate.js';
import type { PolicyPlan } from './policy-plan.js';
import type { AdmissionRequest, JsonObject } from './types.js';

export interface SharedValues {
  /** The review's inputs as JSON, what compiled expressions read; replaced when `object` changes. */
  json: ReviewInputs;
  /** CEL values of `json`'s members, converted on the first read by the interpreter (made then: compiled code reads JSON). */
  cel: Partial<Record<'object' | 'oldObject' | 'request' | 'namespaceObject', unknown>> | undefined;
  /**
   * Values of request-only variables shared by the policies that declare the same expression, by the
   * slot the policy list's plans gave that expression (PolicyPlan.sharedSlots). Made on the first
   * shared variable's evaluation and dropped whenever `object` changes (after a mutation). Failures
   * are not shared: each policy reports its own, naming its own field.
   */
  variableMemo: unknown[] | undefined;
  /**
   * The `coverage` variable: computed from `coverageObject` on first read (it walks every node), and
   * forgotten when the object changes. Without nodes it is null.
   */
  nodes: readonly JsonObject[] | null;
  coverageObject: JsonObject | null;
  coverage?: unknown;
}

/**
 * The review's conversions to CEL values, its table made on the first one: compiled code reads the
 * JSON as it is, and most reviews convert nothing (an empty Map costs about 15 ns more than this
 * object to make and collect, a review of ten small policies about 1 µs).
 */
class Conversions implements ConversionMemo {
  #table: Map<object, unknown> | undefined;

  get(json: object): unknown {
    return this.#table?.get(json);
  }

  set(json: object, cel: unknown): this {
    (this.#table ??= new Map()).set(json, cel);
    return this;
  }
}

/**
 * The review's JSON inputs. `request` as CEL sees it is built on its first read: most policies read
 * only `object`, and a review whose policies never read `request` does not pay for its view. Copies
 * (after a mutation, without namespaceObject) share the conversions, and the view if it was built.
 */
export class ReviewInputs implements JsonInputs {
  constructor(
    readonly object: unknown,
    readonly oldObject: unknown,
    readonly namespaceObject: unknown,
    readonly converted: ConversionMemo,
    private readonly admissionRequest: AdmissionRequest,
    /** The request's view once built (a copy made after that gets it, so that both read the same one). */
    private requestView: JsonObject | undefined = undefined,
  ) {}

  get request(): unknown {
    return (this.requestView ??= requestValue(this.admissionRequest));
  }

  /** The same inputs with another `object` (after a mutation). */
  withObject(object: unknown): ReviewInputs {
    return new ReviewInputs(object, this.oldObject, this.namespaceObject, this.converted, this.admissionRequest, this.requestView);
  }

  /** The same inputs with `namespaceObject` null (native policies' matchConditions). */
  withoutNamespaceObject(): ReviewInputs {
    return new ReviewInputs(this.object, this.oldObject, null, this.converted, this.admissionRequest, this.requestView);
  }
}

/** After a mutation: the object policies see from now on, and what was derived from the old one forgotten. */
export function replaceSharedObject(shared: SharedValues, object: JsonObject): void {
  // The conversions stay: the mutated object shares every subtree it did not write with the old one.
  shared.json = shared.json.withObject(object);
  if (shared.cel !== undefined) shared.cel = { ...shared.cel, object: undefined };
  shared.coverageObject = object;
  shared.coverage = undefined;
  shared.variableMemo = undefined;
}

function sharedCoverage(shared: SharedValues): unknown {
  if (shared.coverage === undefined) shared.coverage = shared.nodes === null || shared.coverageObject === null ? null : coverageValue(shared.coverageObject, shared.nodes);
  return shared.coverage;
}

/**
 * The request as CEL sees it: everything but the objects, which have their own variables. Parts that
 * need no defaults are the request's own objects, not copies: CEL never changes what it reads.
 */
function requestValue(request: AdmissionRequest): JsonObject {
  const view: JsonObject = {
    uid: request.uid,
    kind: request.kind as unknown as JsonObject,
    resource: request.resource as unknown as JsonObject,
    name: request.name ?? '',
    namespace: request.namespace ?? '',
    operation: request.operation,
    userInfo: {
      username: request.userInfo.username ?? '',
      uid: request.userInfo.uid ?? '',
      groups: request.userInfo.groups ?? [],
      extra: request.userInfo.extra ?? {},
    },
    dryRun: request.dryRun ?? false,
    options: request.options ?? null,
  };
  if (request.subResource !== undefined) view.subResource = request.subResource;
  if (request.requestKind) view.requestKind = request.requestKind as unknown as JsonObject;
  if (request.requestResource) view.requestResource = request.requestResource as unknown as JsonObject;
  if (request.requestSubResource !== undefined) view.requestSubResource = request.requestSubResource;
  return view;
}

export function sharedValues(request: AdmissionRequest, object: JsonObject | null, namespaceObject: JsonObject | null | undefined, nodes?: readonly JsonObject[] | null): SharedValues {
  return {
    nodes: nodes ?? null,
    coverageObject: object,
    json: new ReviewInputs(object, request.oldObject, namespaceObject ?? null, new Conversions(), request),
    cel: undefined,
    variableMemo: undefined,
  };
}

/** A member of the review's inputs as a CEL value, converted on the first read and kept. */
export function sharedCel(shared: SharedValues, name: 'object' | 'oldObject' | 'request' | 'namespaceObject'): unknown {
  const cel = (shared.cel ??= {});
  let value = cel[name];
  if (value === undefined) {
    value = celOfJson(shared.json[name], shared.json.converted);
    cel[name] = value;
  }
  return value;
}

/** Each policy's variables by name, for reads by name (built on the first review). */
const variableIndexes = new WeakMap<CompiledPolicy, ReadonlyMap<string, number>>();

function variableIndex(policy: CompiledPolicy): ReadonlyMap<string, number> {
  let index = variableIndexes.get(policy);
  if (index === undefined) {
    index = new Map(policy.variables.map((variable, i) => [variable.name, i]));
    variableIndexes.set(policy, index);
  }
  return index;
}

const DONE = 1;
const FAILED = 2;
const NO_STATES = new Uint8Array(0);
const NO_SHARED_SLOTS: readonly number[] = Object.freeze([]);
/** Variable slots an activation makes at first (more when a policy declares more). */
const MIN_VARIABLE_SLOTS = 16;

/**
 * What an activation shows of the review and how it evaluates variables: daemonguard's policies and
 * Kubernetes-native ones (engine/native-semantics.ts) differ only in these.
 */
export interface ActivationSemantics {
  /** Evaluates a variable on its first read; the value, or what it throws, is kept for the policy. */
  evaluateVariable(variable: CompiledVariable, activation: CelActivation): unknown;
  /** Use the values variables get at load (`constant`) and share request-only ones across the review's policies (`sharedKey`). */
  readonly sharesVariables: boolean;
  /** `coverage` computed from the review's nodes; false: null. */
  readonly coverage: boolean;
  /** `namespaceObject` as the review gives it; false: null in both views (the apiserver's matchConditions). */
  readonly namespaceObject: boolean;
}

/** daemonguard's policies: a variable's failure names its field and is settled by the policy's failurePolicy. */
export const POLICY_SEMANTICS: ActivationSemantics = Object.freeze({
  evaluateVariable: (variable: CompiledVariable, activation: CelActivation) => evaluateExpression(variable, activation),
  sharesVariables: true,
  coverage: true,
  namespaceObject: true,
});

/**
 * One policy's view of a review. The objects are JSON for compiled code (`json`) and converted to CEL
 * values only when the interpreter reads them; variables are evaluated on first read (by name through
 * `variable`, or through the `variables` map the interpreter sees, built on its first read). Getters
 * on the class, not per-review properties. A review makes one and moves it from policy to policy
 * (`begin`), which forgets the previous policy's variables: evaluation is synchronous and nothing
 * keeps an activation past its policy, so each policy still sees only its own.
 */
export class PolicyActivation implements CelActivation {
  #variables: Record<string, unknown> | undefined;
  /** The policy's params (kept here so that reading them does not visit the policy). */
  #params: unknown;
  /**
   * Per variable of the current policy: 0 (not evaluated yet), DONE (value in #values) or FAILED (the
   * error in #values). Made on the first variable read, grown for a policy with more variables, and
   * cleared for the next policy (begin): one pair per review, not one per policy (allocation per
   * review is what sets how often the young generation is collected under load).
   */
  #states: Uint8Array = NO_STATES;
  #values: unknown[] = [];
  /** How many leading entries of #states and #values the current policy may have written. */
  #written = 0;
  /** Per variable, the memo slot its value is shared in across the review's policies, -1 for none (PolicyPlan.sharedSlots). */
  #sharedSlots: readonly number[] = NO_SHARED_SLOTS;
  /** How many memo slots the review's policies share (PolicyPlan.sharedSlotCount). */
  #sharedSlotCount = 0;
  /** The policy's variables by name (read once per policy, not once per variable read). */
  #index: ReadonlyMap<string, number> | undefined;
  /**
   * While the policy's lean function runs (beginLeanAttempt): the cost of each shared variable it
   * evaluated, by memo slot. Once it gave up (abandonLeanAttempt), what the exact code still owes for
   * them: its first read of such a variable finds the value in the memo and is charged that cost,
   * where evaluating it would have charged it (see lean-pass.ts).
   */
  #leanAttempt: (number | undefined)[] | null | undefined;
  #owedCosts: (number | undefined)[] | undefined;
  /** Without namespaceObject: the review's JSON it was made from, and the copy with namespaceObject null. */
  #jsonBase: ReviewInputs | undefined;
  #jsonWithoutNamespace: ReviewInputs | undefined;

  #policy: CompiledPolicy;

  constructor(
    readonly shared: SharedValues,
    policy: CompiledPolicy,
    readonly semantics: ActivationSemantics = POLICY_SEMANTICS,
  ) {
    this.#policy = policy;
    this.#params = policy.params;
  }

  /** The policy this activation is of now (see begin). */
  get policy(): CompiledPolicy {
    return this.#policy;
  }

  /**
   * From now on the activation of `policy`, with none of its variables evaluated yet. `params`: the
   * policy's, when the caller has them at hand. `plan`: the policy's plan in the review's policy list,
   * whose variables shared with other policies of the list are evaluated once per review (without a
   * plan, a lone policy's activation, nothing is shared).
   */
  begin(policy: CompiledPolicy, params: unknown = policy.params, plan?: Pick<PolicyPlan, 'sharedSlots' | 'sharedSlotCount'>): void {
    this.#policy = policy;
    this.#params = params;
    this.#sharedSlots = plan?.sharedSlots ?? NO_SHARED_SLOTS;
    this.#sharedSlotCount = plan?.sharedSlotCount ?? 0;
    this.#variables = undefined;
    const written = this.#written;
    if (written > 0) {
      // A loop, not fill(): a policy has a few variables, and two builtin calls per policy cost more.
      const states = this.#states;
      const values = this.#values;
      for (let i = 0; i < written; i++) {
        states[i] = 0;
        // Nothing of the previous policy stays reachable from here.
        values[i] = undefined;
      }
      this.#written = 0;
    }
    this.#index = undefined;
    this.#leanAttempt = undefined;
    if (this.#owedCosts !== undefined) this.#forgetUnpaid();
  }

  /**
   * The previous policy gave up its lean attempt, and its exact code did not read some of the shared
   * variables the attempt evaluated (an error stopped it first): they leave the memo, so that the next
   * policy reading them evaluates and pays for them as it would have.
   */
  #forgetUnpaid(): void {
    const owed = this.#owedCosts!;
    this.#owedCosts = undefined;
    const memo = this.shared.variableMemo;
    if (memo === undefined) return;
    for (let slot = 0; slot < owed.length; slot++) if (owed[slot] !== undefined) memo[slot] = undefined;
  }

  /** The policy's lean function starts (lean-pass.ts): the shared variables it evaluates are recorded with their cost. */
  beginLeanAttempt(): void {
    // Null: an attempt that has evaluated no shared variable yet (the list is made on the first).
    this.#leanAttempt = null;
  }

  /** It passed: what it evaluated is the exact code's, paid for. */
  endLeanAttempt(): void {
    this.#leanAttempt = undefined;
  }

  /**
   * It gave up: the policy starts again with none of its variables read, and the shared ones the lean
   * function evaluated stay in the review's memo, each charged on the exact code's first read of it.
   */
  abandonLeanAttempt(plan: Pick<PolicyPlan, 'sharedSlots' | 'sharedSlotCount'>): void {
    const owed = this.#leanAttempt;
    this.begin(this.#policy, this.#params, plan);
    if (owed) this.#owedCosts = owed;
  }

  /** The review's policies are done: shared variables still owed by the last policy leave the memo (see #forgetUnpaid). */
  endPolicies(): void {
    if (this.#owedCosts !== undefined) this.#forgetUnpaid();
  }

  get json(): JsonInputs {
    // Read through `shared` on every access: later mutations see the object earlier ones left (replaceSharedObject).
    if (this.semantics.namespaceObject) return this.shared.json;
    if (this.#jsonBase !== this.shared.json) {
      this.#jsonBase = this.shared.json;
      this.#jsonWithoutNamespace = this.shared.json.withoutNamespaceObject();
    }
    return this.#jsonWithoutNamespace!;
  }
  get object(): unknown {
    return sharedCel(this.shared, 'object');
  }
  get oldObject(): unknown {
    return sharedCel(this.shared, 'oldObject');
  }
  get request(): unknown {
    return sharedCel(this.shared, 'request');
  }
  get namespaceObject(): unknown {
    return this.semantics.namespaceObject ? sharedCel(this.shared, 'namespaceObject') : null;
  }
  get params(): unknown {
    return this.#params;
  }
  get coverage(): unknown {
    return this.semantics.coverage ? sharedCoverage(this.shared) : null;
  }
  get variables(): Record<string, unknown> {
    return (this.#variables ??= variablesMap(this.policy, this));
  }

  /**
   * `variables.<name>` as in Kubernetes: evaluated on first read and remembered, a failure too;
   * request-only variables shared across the review's policies. Undefined for an undeclared name.
   * `slot` is where generated code expects it (its scope's declaration order): used when the policy
   * has `name` there, which spares the lookup by name on nearly every read.
   */
  variable(name: string, slot = -1): unknown {
    const variables = this.#policy.variables;
    let i = slot;
    let variable = i >= 0 ? variables[i] : undefined;
    if (variable === undefined || variable.name !== name) {
      const found = (this.#index ??= variableIndex(this.#policy)).get(name);
      if (found === undefined) return undefined;
      i = found;
      variable = variables[i]!;
    }
    const { sharesVariables } = this.semantics;
    if (variable.constant && sharesVariables) return variable.constant.value;
    const count = variables.length;
    if (this.#written < count) {
      // The policy's first read of a variable that is not constant: nothing of it is written yet.
      if (this.#states.length < count) {
        // Room for the next policies' too, most of which have fewer.
        const room = Math.max(count, MIN_VARIABLE_SLOTS);
        this.#states = new Uint8Array(room);
        this.#values = new Array<unknown>(room).fill(undefined);
      }
      this.#written = count;
    }
    const states = this.#states;
    const values = this.#values;
    if (states[i] === DONE) return values[i];
    if (states[i] === FAILED) throw values[i];
    const slots = this.#sharedSlots;
    const sharedSlot = sharesVariables && i < slots.length ? slots[i]! : -1;
    if (sharedSlot >= 0) {
      // A variable's value is a CEL value, never undefined: undefined is an empty slot.
      const shared = this.shared.variableMemo?.[sharedSlot];
      if (shared !== undefined) {
        if (this.#owedCosts !== undefined) this.#payOwedCost(sharedSlot);
        states[i] = DONE;
        return (values[i] = shared);
      }
    }
    try {
      const value = this.semantics.evaluateVariable(variable, this);
      states[i] = DONE;
      values[i] = value;
      if (sharedSlot >= 0) {
        (this.shared.variableMemo ??= new Array<unknown>(this.#sharedSlotCount).fill(undefined))[sharedSlot] = value;
        // What evaluating it spent (the budget metered around it, evaluate.ts).
        if (this.#leanAttempt !== undefined) (this.#leanAttempt ??= [])[sharedSlot] = lastMeteredCost();
      }
      return value;
    } catch (error) {
      states[i] = FAILED;
      values[i] = error;
      throw error;
    }
  }

  /** The review's memo of a shared variable (PolicyPlan.sharedSlots) for a lean function: undefined when no policy has evaluated it yet. */
  sharedValue(sharedSlot: number): unknown {
    return this.shared.variableMemo?.[sharedSlot];
  }

  /**
   * A lean function evaluated the shared variable in `sharedSlot` (one whose exact value is held as
   * its lean value is: lean-pass.ts sameInBothTiers), at `cost`: into the memo, with its cost on the
   * attempt's record, as variable() does for an evaluation the attempt asked of it.
   */
  rememberSharedValue(sharedSlot: number, value: unknown, cost: number): void {
    (this.shared.variableMemo ??= new Array<unknown>(this.#sharedSlotCount).fill(undefined))[sharedSlot] = value;
    if (this.#leanAttempt !== undefined) (this.#leanAttempt ??= [])[sharedSlot] = cost;
  }

  /** Charges what evaluating the shared variable in `slot` cost, once, if the policy's abandoned lean attempt evaluated it. */
  #payOwedCost(slot: number): void {
    const owed = this.#owedCosts![slot];
    if (owed === undefined) return;
    this.#owedCosts![slot] = undefined;
    chargeCost(owed);
  }
}

/** The activation for one policy: shared values, its params, and its lazily evaluated variables. */
export function policyActivation(policy: CompiledPolicy, shared: SharedValues): CelActivation {
  return new PolicyActivation(shared, policy);
}

/**
 * `activation` with `element` (the list element as JSON, as it is in the object) and `index` set, for
 * a forEach default's expressions.
 */
export function elementActivation(activation: CelActivation, element: unknown, index: bigint): CelActivation {
  return new ElementActivation(activation, element, index);
}

/**
 * The review's JSON inputs plus the current list element: compiled code reads `element` as JSON, as
 * it reads `object` (codegen JSON_NAMES), so an element it only reads members of is never converted.
 * Getters, so that `request`'s view is still built only when read.
 */
class ElementInputs implements JsonInputs {
  constructor(
    readonly review: JsonInputs,
    readonly element: unknown,
  ) {}

  get object(): unknown {
    return this.review.object;
  }
  get oldObject(): unknown {
    return this.review.oldObject;
  }
  get request(): unknown {
    return this.review.request;
  }
  get namespaceObject(): unknown {
    return this.review.namespaceObject;
  }
  get converted(): ConversionMemo {
    return this.review.converted;
  }
}

/**
 * A policy's activation plus `element` and `index`. Everything else is the policy's: its variables
 * are evaluated in the policy's activation, once per review, as without forEach. The element is
 * JSON for compiled code (`json.element`) and converted for the interpreter on its first read, through
 * the review's conversions (the same CEL value compiled code gets when it converts that element).
 */
class ElementActivation implements CelActivation {
  #element: unknown;
  #json: ElementInputs | undefined;

  constructor(
    readonly parent: CelActivation,
    /** The element as JSON. */
    readonly elementJson: unknown,
    readonly index: bigint,
  ) {}

  get json(): JsonInputs | undefined {
    const review = this.parent.json;
    if (review === undefined) return undefined;
    if (this.#json?.review !== review) this.#json = new ElementInputs(review, this.elementJson);
    return this.#json;
  }
  get element(): unknown {
    if (this.#element === undefined) {
      const converted = this.parent.json?.converted;
      this.#element = converted === undefined ? toCelValue(this.elementJson) : celOfJson(this.elementJson, converted);
    }
    return this.#element;
  }
  get object(): unknown {
    return this.parent.object;
  }
  get oldObject(): unknown {
    return this.parent.oldObject;
  }
  get request(): unknown {
    return this.parent.request;
  }
  get namespaceObject(): unknown {
    return this.parent.namespaceObject;
  }
  get params(): unknown {
    return this.parent.params;
  }
  get coverage(): unknown {
    return this.parent.coverage;
  }
  get variables(): unknown {
    return this.parent.variables;
  }
  variable(name: string, slot?: number): unknown {
    return this.parent.variable?.(name, slot);
  }
}

/**
 * `variables` as the interpreter reads it: a map whose members evaluate on first read. A variable
 * whose program returns JSON (CelProgram.jsonResult, for compiled readers) is converted here, through
 * the review's conversions: the interpreter sees the CEL value it would have computed.
 */
function variablesMap(policy: CompiledPolicy, activation: PolicyActivation): Record<string, unknown> {
  const variables: Record<string, unknown> = Object.create(null);
  for (const [slot, { name, program }] of policy.variables.entries()) {
    const get = program.jsonResult === true ? () => celOf(activation.variable(name, slot), activation.shared.json.converted) : () => activation.variable(name, slot);
    Object.defineProperty(variables, name, { enumerable: true, get });
  }
  return variables;
}
