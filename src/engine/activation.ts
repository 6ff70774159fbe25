// Builds the CEL variables for one review. The request-wide values (object, request, ...) are
// converted once per review and shared by every policy; `variables` is per policy, lazy and memoized
// as in Kubernetes, so a variable no validation reads costs nothing.
import type { CelActivation } from '../cel/program.js';
import { toCelValue } from '../cel/values.js';
import type { CompiledPolicy } from '../policy/types.js';
import { coverageValue } from './coverage-value.js';
import { evaluateExpression } from './evaluate.js';
import type { AdmissionRequest, JsonObject } from './types.js';

export interface SharedValues {
  object: unknown;
  oldObject: unknown;
  request: unknown;
  namespaceObject: unknown;
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
export function replaceSharedObject(shared: SharedValues, object: JsonObject, cel: unknown): void {
  shared.object = cel;
  shared.coverageObject = object;
  shared.coverage = undefined;
  shared.variableMemo.clear();
}

function sharedCoverage(shared: SharedValues): unknown {
  if (shared.coverage === undefined) shared.coverage = shared.nodes === null || shared.coverageObject === null ? null : coverageValue(shared.coverageObject, shared.nodes);
  return shared.coverage;
}

/** The request as CEL sees it: everything but the objects, which have their own variables. */
function requestValue(request: AdmissionRequest): unknown {
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
  return toCelValue(view);
}

export function sharedValues(request: AdmissionRequest, object: JsonObject | null, namespaceObject: JsonObject | null | undefined, nodes?: readonly JsonObject[] | null): SharedValues {
  return {
    nodes: nodes ?? null,
    coverageObject: object,
    object: object === null ? null : toCelValue(object),
    oldObject: request.oldObject === null ? null : toCelValue(request.oldObject),
    request: requestValue(request),
    namespaceObject: namespaceObject ? toCelValue(namespaceObject) : null,
    variableMemo: new Map(),
  };
}

/** The activation for one policy: shared values, its params, and its lazily evaluated variables. */
export function policyActivation(policy: CompiledPolicy, shared: SharedValues): CelActivation {
  const variables: Record<string, unknown> = Object.create(null);
  const activation: CelActivation = {
    object: shared.object,
    oldObject: shared.oldObject,
    request: shared.request,
    params: policy.params,
    namespaceObject: shared.namespaceObject,
    coverage: null,
    variables,
  };
  Object.defineProperty(activation, 'coverage', { enumerable: true, get: () => sharedCoverage(shared) });
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
  return activation;
}
