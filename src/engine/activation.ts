// Builds the CEL variables for one review. The request-wide values (object, request, ...) are shared
// by every policy as JSON, converted to CEL values only for the interpreter (and by the compiled code
// only where an operation needs a CEL value); `variables` is per policy, lazy and memoized
// as in Kubernetes, so a variable no validation reads costs nothing.
import type { CelActivation, JsonInputs } from '../cel/program.js';
import { celOfJson } from '../cel/values.js';
import type { CompiledPolicy } from '../policy/types.js';
import { coverageValue } from './coverage-value.js';
import { evaluateExpression } from './evaluate.js';
import type { AdmissionRequest, JsonObject } from './types.js';

export interface SharedValues {
  /** The review's inputs as JSON, what compiled expressions read; replaced when `object` changes. */
  json: JsonInputs;
  /** CEL values of `json`'s members, converted on the first read by the interpreter. */
  cel: Partial<Record<'object' | 'oldObject' | 'request' | 'namespaceObject', unknown>>;
  /**
   * Values of request-only variables by expression source, shared by every policy that declares the
   * same expression. Cleared whenever `object` changes (after a mutation). Failures are not shared:
   * each policy reports its own, naming its own field.
   */
  variableMemo: Map<string, unknown>;
  /**
   * The `coverage` variable: computed from `coverageObject` on first read (it walks every node), and
   * forgotten when the object changes. Without nodes it is null.
   */
  nodes: readonly JsonObject[] | null;
  coverageObject: JsonObject | null;
  coverage?: unknown;
}

/** After a mutation: the object policies see from now on, and what was derived from the old one forgotten. */
export function replaceSharedObject(shared: SharedValues, object: JsonObject): void {
  // The conversions stay: the mutated object shares every subtree it did not write with the old one.
  shared.json = { ...shared.json, object };
  shared.cel = { ...shared.cel, object: undefined };
  shared.coverageObject = object;
  shared.coverage = undefined;
  shared.variableMemo.clear();
}

function sharedCoverage(shared: SharedValues): unknown {
  if (shared.coverage === undefined) shared.coverage = shared.nodes === null || shared.coverageObject === null ? null : coverageValue(shared.coverageObject, shared.nodes);
  return shared.coverage;
}

/** The request as CEL sees it: everything but the objects, which have their own variables. */
function requestValue(request: AdmissionRequest): JsonObject {
  const view: JsonObject = {
    uid: request.uid,
    kind: { ...request.kind },
    resource: { ...request.resource },
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
  if (request.requestKind) view.requestKind = { ...request.requestKind };
  if (request.requestResource) view.requestResource = { ...request.requestResource };
  if (request.requestSubResource !== undefined) view.requestSubResource = request.requestSubResource;
  return view;
}

export function sharedValues(request: AdmissionRequest, object: JsonObject | null, namespaceObject: JsonObject | null | undefined, nodes?: readonly JsonObject[] | null): SharedValues {
  return {
    nodes: nodes ?? null,
    coverageObject: object,
    json: { object, oldObject: request.oldObject, request: requestValue(request), namespaceObject: namespaceObject ?? null, converted: new Map() },
    cel: {},
    variableMemo: new Map(),
  };
}

function sharedCel(shared: SharedValues, name: 'object' | 'oldObject' | 'request' | 'namespaceObject'): unknown {
  let value = shared.cel[name];
  if (value === undefined) {
    value = celOfJson(shared.json[name], shared.json.converted);
    shared.cel[name] = value;
  }
  return value;
}

/**
 * One policy's view of a review. The objects are JSON for compiled code (`json`) and converted to CEL
 * values only when the interpreter reads them; `variables` is built on first read. Getters on the
 * class, not per-review properties, so an activation is one small allocation.
 */
class PolicyActivation implements CelActivation {
  #variables: Record<string, unknown> | undefined;

  constructor(
    readonly shared: SharedValues,
    readonly policy: CompiledPolicy,
  ) {}

  get json(): JsonInputs {
    return this.shared.json;
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
    return sharedCel(this.shared, 'namespaceObject');
  }
  get params(): unknown {
    return this.policy.params;
  }
  get coverage(): unknown {
    return sharedCoverage(this.shared);
  }
  get variables(): Record<string, unknown> {
    return (this.#variables ??= lazyVariables(this.policy, this.shared, this));
  }
}

/** The activation for one policy: shared values, its params, and its lazily evaluated variables. */
export function policyActivation(policy: CompiledPolicy, shared: SharedValues): CelActivation {
  return new PolicyActivation(shared, policy);
}

/** `activation` with `element` and `index` set, for a forEach default's expressions. */
export function elementActivation(activation: CelActivation, element: unknown, index: bigint): CelActivation {
  // A prototype link rather than a copy: the getters above keep working (a spread would run them all).
  return Object.create(activation, { element: { value: element, enumerable: true }, index: { value: index, enumerable: true } }) as CelActivation;
}

/** `variables` as in Kubernetes: each evaluated on first read and remembered, failures included. */
function lazyVariables(policy: CompiledPolicy, shared: SharedValues, activation: CelActivation): Record<string, unknown> {
  const variables: Record<string, unknown> = Object.create(null);
  for (const variable of policy.variables) {
    if (variable.constant) {
      Object.defineProperty(variables, variable.name, { enumerable: true, value: variable.constant.value });
      continue;
    }
    const { sharedKey } = variable;
    let state: 'unset' | 'done' | 'failed' = 'unset';
    let value: unknown;
    let failure: unknown;
    Object.defineProperty(variables, variable.name, {
      enumerable: true,
      get() {
        if (state === 'done') return value;
        if (state === 'failed') throw failure;
        if (sharedKey !== undefined && shared.variableMemo.has(sharedKey)) {
          value = shared.variableMemo.get(sharedKey);
          state = 'done';
          return value;
        }
        try {
          value = evaluateExpression(variable, activation);
          state = 'done';
          if (sharedKey !== undefined) shared.variableMemo.set(sharedKey, value);
          return value;
        } catch (error) {
          failure = error;
          state = 'failed';
          throw error;
        }
      },
    });
  }
  return variables;
}
