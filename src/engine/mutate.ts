// Runs a policy's mutations against a working copy of the object and returns the RFC 6902
// operations, written so the kube-apiserver's JSON Patch (evanphx/json-patch v4) applies them:
// parents are created by the operation itself, keys are escaped, no `test` operations.
import fastJsonPatch from 'fast-json-patch';
import type { Operation as FastPatchOperation } from 'fast-json-patch';
import { fromCelValue } from '../cel/values.js';
import { ApplyConfigurationError, applyConfiguration, diffOperations } from './apply-configuration.js';
import { constructedTypeName, typeNameMismatches } from '../cel/object-construction.js';
import { formatPointer, parsePointer } from '../common/json-pointer.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';
import type { CelActivation } from '../cel/program.js';
import type { CompiledDefault, CompiledMutation } from '../policy/types.js';
import { elementActivation } from './activation.js';
import { EvaluationFailure, evaluateBoolean, evaluateExpression } from './evaluate.js';
import type { PatchOperation } from './types.js';

const { applyOperation, JsonPatchError } = fastJsonPatch;

type Container = JsonObject | JsonValue[];

function childOf(parent: Container, key: string): JsonValue | undefined {
  if (Array.isArray(parent)) {
    if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
    return parent[Number(key)];
  }
  return Object.hasOwn(parent, key) ? parent[key] : undefined;
}

/**
 * Where `path` under `base` starts to be missing: the index of its first segment that is absent (or
 * null), or -1 when a value is already there or `base` itself is missing. Throws when the path runs
 * into a value that is not an object or past the end of a list. Builds nothing on the way: every
 * default checks this before its value is computed, and most find their field set.
 */
function firstMissing(root: JsonObject, basePath: string[], path: string[], field: string): number {
  let node: JsonValue = root;
  for (const segment of basePath) {
    const next: JsonValue | undefined = isJsonObject(node) || Array.isArray(node) ? childOf(node, segment) : undefined;
    if (next === undefined) return -1;
    node = next;
  }
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (!isJsonObject(node) && !Array.isArray(node)) {
      throw new EvaluationFailure(field, `cannot set ${formatPointer(path)}: ${formatPointer([...basePath, ...path.slice(0, i)])} is not an object`);
    }
    const next = childOf(node, segment);
    if (next === undefined || next === null) {
      if (Array.isArray(node)) {
        throw new EvaluationFailure(field, `cannot set ${formatPointer(path)}: ${formatPointer([...basePath, ...path.slice(0, i + 1)])} is past the end of the list`);
      }
      return i;
    }
    node = next;
  }
  return -1;
}

/**
 * The single `add` that sets `path` under `base`, whose segment `i` is the first missing one
 * (firstMissing): it targets that segment and carries the rest as nested objects, so no parent is
 * left missing. Defaults add only where firstMissing found a gap: that is what makes them idempotent.
 */
function addFromFirstMissing(basePath: string[], path: string[], i: number, value: JsonValue): { operation: PatchOperation; segments: string[] } {
  let wrapped: JsonValue = value;
  for (let j = path.length - 1; j > i; j--) wrapped = { [path[j]!]: wrapped };
  const segments = [...basePath, ...path.slice(0, i + 1)];
  return { operation: { op: 'add', path: formatPointer(segments), value: wrapped }, segments };
}

/** Names the patch library refuses to write through (its banPrototypeModifications): such a default takes the general path and its error. */
function guardedName(segment: string): boolean {
  return segment === '__proto__' || segment === 'prototype';
}

/**
 * A default's `add` (addFromFirstMissing) applied to copies of the containers on its path, without a
 * pointer to format, parse and check again: firstMissing found every container up to the target's
 * parent, and the parent an object whose member is absent or null, so the add sets that member, as
 * the patch library would (an existing member keeps its place, a new one goes last).
 */
function applyDefaultAdd(document: JsonObject, segments: readonly string[], value: JsonValue): JsonObject {
  const root: JsonObject = { ...document };
  const parent = copyContainersAlong(root, segments) as JsonObject;
  // A copy: the value is reported in the patch and may be a policy's constant. Assigned: the target is
  // never `__proto__` here (guardedName sends such a path to applyInPlace), and the parent is a plain
  // copy, whose own member an assignment sets in place or adds last, as defining it would.
  parent[segments[segments.length - 1]!] = copyJson(value);
  return root;
}

function listAt(root: JsonObject, segments: string[]): JsonValue[] | undefined {
  let node: JsonValue | undefined = root;
  for (const segment of segments) {
    if (!isJsonObject(node) && !Array.isArray(node)) return undefined;
    node = childOf(node, segment);
  }
  return Array.isArray(node) ? node : undefined;
}

function defaultValue(entry: CompiledDefault, activation: CelActivation): JsonValue | undefined {
  if (!entry.valueExpression) return entry.value;
  const value = evaluateExpression(entry.valueExpression, activation);
  if (value === null || value === undefined) return undefined;
  try {
    return fromCelValue(value);
  } catch (error) {
    throw new EvaluationFailure(entry.valueExpression.field, (error as Error).message);
  }
}

/** Each default is applied as soon as it is computed, so two defaults under one missing parent compose. */
function applyDefaults(mutation: CompiledMutation, original: JsonObject, activation: CelActivation): MutationResult {
  const operations: PatchOperation[] = [];
  let working = original;
  const emit = ({ operation, segments }: { operation: PatchOperation; segments: string[] }): void => {
    // Copy on write, and only the path written: most reviews of a compliant object write nothing.
    working = segments.some(guardedName) ? applyInPlace(copyPathTo(working, operation), operation, mutation.field) : applyDefaultAdd(working, segments, operation.value!);
    operations.push(operation);
  };
  for (const entry of mutation.defaults ?? []) {
    if (!entry.forEach) {
      // Cheap absence check first, so an expression that computes the value is not run needlessly
      // (computing it changes nothing in `working`, so the gap found is still where the add goes).
      const missing = firstMissing(working, [], entry.path, mutation.field);
      if (missing < 0) continue;
      const value = defaultValue(entry, activation);
      if (value !== undefined) emit(addFromFirstMissing([], entry.path, missing, value));
      continue;
    }
    const list = listAt(working, entry.forEach);
    if (!list) continue;
    // One path to the element for the whole list, its last segment the index: the operations keep
    // pointers formatted from it, never the array.
    const base = [...entry.forEach, ''];
    list.forEach((element, index) => {
      base[base.length - 1] = String(index);
      const missing = firstMissing(working, base, entry.path, mutation.field);
      if (missing < 0) return;
      const value = defaultValue(entry, elementActivation(activation, element, BigInt(index)));
      if (value !== undefined) emit(addFromFirstMissing(base, entry.path, missing, value));
    });
  }
  return { operations, object: working };
}

const PATCH_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy']);

function jsonPatchOperations(mutation: CompiledMutation, activation: CelActivation): PatchOperation[] {
  const expression = mutation.jsonPatch!;
  const result = fromCelValue(evaluateExpression(expression, activation));
  if (!Array.isArray(result)) throw new EvaluationFailure(expression.field, 'the expression must return a list of patch operations');
  return result.map((item, i) => {
    if (!isJsonObject(item)) throw new EvaluationFailure(expression.field, `operation ${i} is not a map`);
    const { op, path, value, from } = item;
    if (op === 'test') {
      throw new EvaluationFailure(expression.field, `operation ${i}: "test" operations are refused: a failing test makes the apiserver reject the request even with failurePolicy Ignore`);
    }
    if (typeof op !== 'string' || !PATCH_OPS.has(op)) {
      throw new EvaluationFailure(expression.field, `operation ${i}: op must be one of add, remove, replace, move, copy`);
    }
    if (typeof path !== 'string') throw new EvaluationFailure(expression.field, `operation ${i}: path must be a string`);
    const operation: PatchOperation = { op: op as PatchOperation['op'], path };
    if (op === 'add' || op === 'replace') {
      if (value === undefined) throw new EvaluationFailure(expression.field, `operation ${i}: ${op} needs a value`);
      operation.value = value;
    }
    if (op === 'move' || op === 'copy') {
      if (typeof from !== 'string') throw new EvaluationFailure(expression.field, `operation ${i}: ${op} needs "from"`);
      operation.from = from;
    }
    return operation;
  });
}

/**
 * A MutatingAdmissionPolicy ApplyConfiguration: the expression's `Object{...}` merged into the object
 * as the apiserver merges it, reported as the operations that make the same change.
 */
export function applyConfigurationResult(mutation: CompiledMutation, working: JsonObject, activation: CelActivation): MutationResult {
  const expression = mutation.applyConfiguration!;
  const value = evaluateExpression(expression, activation);
  const typeName = constructedTypeName(value);
  if (typeName !== 'Object') {
    throw new EvaluationFailure(expression.field, `the expression must return an Object{...} apply configuration, not ${typeName ?? (value === null ? 'null' : 'a plain value')}`);
  }
  const mismatches = typeNameMismatches(value);
  if (mismatches.length > 0) throw new EvaluationFailure(expression.field, `type mismatch: ${mismatches.join('; ')}`);
  const configuration = fromCelValue(value);
  let merged: JsonObject;
  try {
    merged = applyConfiguration(working, configuration as JsonObject);
  } catch (error) {
    // The apiserver's wording (mutating/patch/smd.go).
    if (error instanceof ApplyConfigurationError) throw new EvaluationFailure(expression.field, `error applying patch: ${error.message}`);
    throw error;
  }
  const operations = diffOperations(working, merged);
  if (operations.length === 0) return { operations, object: working };
  return { operations, object: applyPatch(working, operations, mutation.field) };
}

/** A deep copy of a JSON value: several times faster than structuredClone on DaemonSet-sized objects. */
function copyJson(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const copy: JsonObject = {};
  for (const key of Object.keys(value)) {
    // defineProperty for a `__proto__` key, so that it stays an own data property (an assignment would
    // set the copy's prototype); assignment, several times faster, for every other key.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: copyJson(value[key]!), enumerable: true, writable: true, configurable: true });
    else copy[key] = copyJson(value[key]!);
  }
  return copy;
}

/**
 * `document` with each container from the root down to the parent of the operation's target (and of
 * its source, for move and copy) replaced by a shallow copy, so that applying the operation in place
 * changes only copies. Everything off those paths is shared with `document`, which stays untouched:
 * a default written into a 60 KB DaemonSet copies a handful of small containers, not the object. The
 * engine's CEL values of the shared parts carry over too (celOfJson converts by identity).
 */
function copyPathTo(document: JsonObject, operation: PatchOperation): JsonObject {
  const root: JsonObject = { ...document };
  for (const pointer of operation.from === undefined ? [operation.path] : [operation.path, operation.from]) {
    let segments: string[];
    try {
      segments = parsePointer(pointer);
    } catch {
      return copyJson(document) as JsonObject; // the operation will fail; leave nothing shared for it to touch
    }
    copyContainersAlong(root, segments);
  }
  return root;
}

/**
 * Replaces each container under `root` (already a copy) on the way to the parent of `segments`' last
 * one by a shallow copy, stopping where one is missing or not a container; the last copy made (the
 * parent, when the path is there).
 */
function copyContainersAlong(root: JsonObject, segments: readonly string[]): Container {
  let parent: Container = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i]!;
    const child = childOf(parent, key);
    if (child === undefined || child === null || typeof child !== 'object') break;
    const copy: Container = Array.isArray(child) ? [...child] : { ...child };
    // childOf found an own property: assigning replaces it, even for a key named `__proto__`.
    if (Array.isArray(parent)) parent[Number(key)] = copy;
    else parent[key] = copy;
    parent = copy;
  }
  return parent;
}

/**
 * Applies one operation in place, as strictly as the apiserver (a missing parent or path is an
 * error). Only the containers on the operation's paths may be modified: see copyPathTo.
 */
/**
 * Resolves a pointer on own members only. The patch library looks members up with `in`, so it
 * would take `/metadata/labels/constructor` for an existing key and `replace` or `remove` it; the
 * kube-apiserver would refuse that patch, which fails the request even with failurePolicy Ignore.
 */
function resolvesOwn(document: JsonValue, segments: readonly string[]): boolean {
  let node: JsonValue | undefined = document;
  for (const segment of segments) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9]\d*)$/.test(segment) || Number(segment) >= node.length) return false;
      node = node[Number(segment)];
    } else if (isJsonObject(node) && Object.hasOwn(node, segment)) {
      node = node[segment];
    } else {
      return false;
    }
  }
  return true;
}

/** Why the apiserver would refuse this operation on `document`, or undefined when it applies. */
function refusalReason(document: JsonObject, operation: PatchOperation): string | undefined {
  let segments: string[];
  let from: string[] | undefined;
  try {
    segments = parsePointer(operation.path);
    from = operation.from === undefined ? undefined : parsePointer(operation.from);
  } catch (error) {
    return (error as Error).message;
  }
  const mustExist = operation.op === 'remove' || operation.op === 'replace' ? segments : segments.slice(0, -1);
  if (!resolvesOwn(document, mustExist)) return `${formatPointer(mustExist)} does not exist`;
  if (from && !resolvesOwn(document, from)) return `${formatPointer(from)} does not exist`;
  return undefined;
}

function applyInPlace(document: JsonObject, operation: PatchOperation, field: string): JsonObject {
  const refused = refusalReason(document, operation);
  if (refused) throw new EvaluationFailure(field, `patch ${operation.op} ${operation.path} does not apply: ${refused}`);
  let result: JsonValue;
  try {
    // The document gets its own copy of the value: the operation is reported in the patch, and a
    // default's value belongs to the policy; neither may change when later operations edit the document.
    const applied = operation.value !== null && typeof operation.value === 'object' ? { ...operation, value: copyJson(operation.value!) } : operation;
    result = applyOperation(document, applied as FastPatchOperation, true, true, true).newDocument as JsonValue;
  } catch (error) {
    const reason = error instanceof JsonPatchError ? `${error.name}: ${error.message.split('\n')[0]}` : (error as Error).message;
    throw new EvaluationFailure(field, `patch ${operation.op} ${operation.path} does not apply: ${reason}`);
  }
  if (!isJsonObject(result)) throw new EvaluationFailure(field, 'the patch replaced the whole object with a non-object');
  return result;
}

/**
 * Applies operations to copies of the paths they touch; `working` (and everything shared with it) is
 * never modified, so a failure leaves nothing half-applied.
 */
export function applyPatch(working: JsonObject, operations: PatchOperation[], field: string): JsonObject {
  let document = working;
  for (const operation of operations) document = applyInPlace(copyPathTo(document, operation), operation, field);
  return document;
}

export interface MutationResult {
  operations: PatchOperation[];
  object: JsonObject;
}

/** Runs one mutation. Throws EvaluationFailure; the caller settles it by the policy's failurePolicy. */
export function runMutation(mutation: CompiledMutation, working: JsonObject, activation: CelActivation): MutationResult {
  if (mutation.when && !evaluateBoolean(mutation.when, activation)) return { operations: [], object: working };
  if (mutation.applyConfiguration) return applyConfigurationResult(mutation, working, activation);
  if (!mutation.jsonPatch) return applyDefaults(mutation, working, activation);
  const operations = jsonPatchOperations(mutation, activation);
  if (operations.length === 0) return { operations, object: working };
  return { operations, object: applyPatch(working, operations, mutation.field) };
}
