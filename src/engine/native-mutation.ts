// How a MutatingAdmissionPolicy (one CompiledPolicy per policy, binding and param: src/native/) mutates,
// with the kube-apiserver's semantics (k8s.io/apiserver v0.37.2 pkg/admission/plugin/policy/mutating):
// - matchConditions as for ValidatingAdmissionPolicy (native-semantics.ts);
// - the mutations run in order, each on the object the previous ones produced; one that fails is
//   skipped and the others still apply; every failure is a policy error, which under failurePolicy
//   Fail denies the request ("policy 'p' with binding 'b' denied request: …") and under Ignore is dropped;
// - ApplyConfiguration merges as server-side apply (apply-configuration.ts);
// - JSONPatch needs JSONPatch{...} elements (not maps) and is applied as evanphx/json-patch v4 applies
//   it: a failed `test` leaves the object unchanged by that mutation, without error; `replace` of a
//   missing member of an existing object sets it. The reported operations never contain the tests
//   (and such a replace is reported as the `add` it amounts to).
import { constructedTypeName, typeNameMismatches } from '../cel/object-construction.js';
import type { CelActivation } from '../cel/program.js';
import { fromCelValue } from '../cel/values.js';
import { parsePointer } from '../common/json-pointer.js';
import type { CompiledMutation, CompiledPolicy, NativeOrigin } from '../policy/types.js';
import { replaceSharedObject, type SharedValues } from './activation.js';
import { withCostBudget } from '../cel/cost.js';
import { EvaluationFailure, PolicyBudgetFailure } from './evaluate.js';
import { POLICY_COST_BUDGET } from './policy-budget.js';
import { sameJson } from './apply-configuration.js';
import { applyConfigurationResult, applyPatch, type MutationResult } from './mutate.js';
import { denyDirectly, errorText, evaluate, nativeActivation, nativeMatchConditionsHold, OUT_OF_BUDGET, type NativeSink } from './native-semantics.js';
import type { JsonObject, JsonValue, PatchOperation } from './types.js';

/** What a native mutation reports: DecisionBuilder implements it. */
export type MutationSink = Omit<NativeSink, 'outcome'> & {
  patch: PatchOperation[];
  outcome(policy: CompiledPolicy, result: 'pass' | 'fail' | 'skip' | 'error', message?: string, patchOperations?: number): void;
};

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** Where a pointer leads: its parent container and last key, as evanphx/json-patch v4's findObject. */
function locate(document: JsonValue, pointer: string): { parent: JsonObject | JsonValue[]; key: string } | undefined {
  const segments = parsePointer(pointer);
  let node: JsonValue | undefined = document;
  for (const segment of segments.slice(0, -1)) {
    if (Array.isArray(node)) node = /^(0|[1-9]\d*)$/.test(segment) ? node[Number(segment)] : undefined;
    else if (node !== null && typeof node === 'object' && Object.hasOwn(node, segment)) node = node[segment];
    else node = undefined;
    if (node === undefined || node === null || typeof node !== 'object') return undefined;
  }
  return node !== null && typeof node === 'object' ? { parent: node as JsonObject | JsonValue[], key: segments.at(-1)! } : undefined;
}

/**
 * evanphx/json-patch v4 (the apiserver's) `test`: 'pass', 'fail' (the patch is dropped, no error), or
 * an error message (a missing parent, an index past the end).
 */
function runTest(document: JsonValue, operation: PatchOperation): 'pass' | 'fail' | string {
  const found = locate(document, operation.path);
  if (found === undefined) return `test operation does not apply: is missing path: ${operation.path}: missing value`;
  const { parent, key } = found;
  let value: JsonValue | undefined;
  if (Array.isArray(parent)) {
    if (!/^(0|[1-9]\d*)$/.test(key) || Number(key) >= parent.length) return `error in test for path: '${operation.path}': Unable to access invalid index: ${key}: invalid index referenced`;
    value = parent[Number(key)];
  } else {
    value = Object.hasOwn(parent, key) ? parent[key] : undefined;
  }
  // A missing member passes only a test without a value: a CEL null is sent as "value": null.
  if (value === undefined) return operation.value === undefined ? 'pass' : 'fail';
  if (operation.value === undefined) return 'fail';
  return sameJson(value, operation.value) ? 'pass' : 'fail';
}

/** v4's `replace` sets a missing member of an existing object (it only checks the parent): an `add` then. */
function replaceAsApplied(document: JsonValue, operation: PatchOperation): PatchOperation {
  if (operation.op !== 'replace') return operation;
  const found = locate(document, operation.path);
  if (found === undefined || Array.isArray(found.parent) || Object.hasOwn(found.parent, found.key)) return operation;
  return { ...operation, op: 'add' };
}

/** A JSONPatch mutation as the apiserver's jsonPatcher runs it. */
function nativeJsonPatch(mutation: CompiledMutation, working: JsonObject, activation: CelActivation): MutationResult {
  const expression = mutation.jsonPatch!;
  const value = evaluate(expression, activation);
  if (!Array.isArray(value)) throw new EvaluationFailure(expression.field, 'type mismatch: JSONPatchType.expression should evaluate to array');
  const operations: PatchOperation[] = [];
  for (const element of value) {
    if (constructedTypeName(element) !== 'JSONPatch') {
      throw new EvaluationFailure(expression.field, 'type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch, got a map: write JSONPatch{op: ..., path: ..., value: ...}');
    }
    const fields = element as Record<string, unknown>;
    const mismatches = typeNameMismatches(fields.value);
    if (mismatches.length > 0) throw new EvaluationFailure(expression.field, `type mismatch: ${mismatches.join('; ')}`);
    const op = typeof fields.op === 'string' ? fields.op : '';
    if (!OPS.has(op)) throw new EvaluationFailure(expression.field, `JSON Patch: Unexpected kind: ${op}`);
    const operation: PatchOperation = { op: op as PatchOperation['op'], path: typeof fields.path === 'string' ? fields.path : '' };
    if (typeof fields.from === 'string' && fields.from !== '') operation.from = fields.from;
    if (Object.hasOwn(fields, 'value')) operation.value = fromCelValue(fields.value);
    operations.push(operation);
  }
  let document = working;
  const applied: PatchOperation[] = [];
  for (const operation of operations) {
    if ((operation.op as string) === 'test') {
      const outcome = runTest(document, operation);
      // A failed test is not an error for the apiserver: the mutation leaves the object as it was.
      if (outcome === 'fail') return { operations: [], object: working };
      if (outcome !== 'pass') throw new EvaluationFailure(expression.field, `JSON Patch: ${outcome}`);
      continue;
    }
    const applicable = replaceAsApplied(document, operation);
    let next: JsonObject;
    try {
      next = applyPatch(document, [applicable], expression.field);
    } catch (error) {
      if (error instanceof EvaluationFailure) throw new EvaluationFailure(expression.field, `JSON Patch: ${error.detail}`);
      throw error;
    }
    // An operation that changes nothing (a replace with the value already there) is not reported:
    // the webhook's answer to an already mutated object stays empty.
    if (sameJson(document, next)) continue;
    document = next;
    applied.push(applicable);
  }
  return { operations: applied, object: document };
}

/**
 * Runs one MutatingAdmissionPolicy binding in the mutate phase and returns the object it leaves.
 * Operations go to `sink.patch`, failures are settled by failurePolicy.
 */
export function reviewNativeMutation(
  policy: CompiledPolicy,
  origin: NativeOrigin,
  shared: SharedValues,
  working: JsonObject,
  sink: MutationSink,
): JsonObject {
  const failClosed = policy.failurePolicy !== 'Ignore';
  if (origin.configurationError !== undefined) {
    const message = `failed to configure binding: ${origin.configurationError}`;
    if (failClosed) sink.outcome(policy, 'error', denyDirectly(policy, origin, message, sink).message);
    else sink.outcome(policy, 'skip', `ignored (failurePolicy Ignore): ${message}`);
    return working;
  }
  if (!nativeMatchConditionsHold(policy, origin, shared, sink)) return working;
  // One activation for the invocation (variables are evaluated once, as the apiserver's composition
  // context caches them); `object` follows the mutations.
  const activation = nativeActivation(policy, shared, true);
  const errors: string[] = [];
  let count = 0;
  for (const mutation of policy.mutations) {
    let result: MutationResult;
    try {
      // Each mutation under a budget of its own, as the apiserver's dispatcher gives it (policy-budget.ts).
      const input = working;
      result = withCostBudget(POLICY_COST_BUDGET, () => (mutation.applyConfiguration ? applyConfigurationResult(mutation, input, activation) : nativeJsonPatch(mutation, input, activation)));
    } catch (error) {
      errors.push(error instanceof PolicyBudgetFailure ? OUT_OF_BUDGET : error instanceof EvaluationFailure ? error.detail : errorText(error));
      continue;
    }
    if (result.operations.length === 0) continue;
    sink.patch.push(...result.operations);
    count += result.operations.length;
    working = result.object;
    replaceSharedObject(shared, working);
  }
  if (errors.length === 0) {
    sink.outcome(policy, 'pass', undefined, count);
    return working;
  }
  if (!failClosed) {
    sink.outcome(policy, 'skip', `ignored (failurePolicy Ignore): ${errors.join('; ')}`);
    return working;
  }
  let first: string | undefined;
  for (const error of errors) first ??= denyDirectly(policy, origin, error, sink).message;
  sink.outcome(policy, 'error', first);
  return working;
}
