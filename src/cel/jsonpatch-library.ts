// `jsonpatch.escapeKey(key)`, as in Kubernetes' MutatingAdmissionPolicy: escapes a map key for use
// in a JSON pointer, so `'/metadata/labels/' + jsonpatch.escapeKey('node-role.kubernetes.io/x')`
// addresses the label and not a nested path. With it come the typed constructions JSONPatch{...} and
// Object{...} (object-construction.ts).
import type { Environment } from '@marcbachmann/cel-js';
import { escapePointerSegment } from '../common/json-pointer.js';
import { chargeStringTraversal } from './library/call-costs.js';
import { registerObjectConstruction } from './object-construction.js';
import { addOverload, type Handler } from './overloads.js';

class JsonPatchNamespace {}

function escapeKey(_namespace: JsonPatchNamespace, key: string): string {
  // Kubernetes charges one traversal of the key.
  chargeStringTraversal(key);
  return escapePointerSegment(key);
}

export function registerJsonPatchLibrary(env: Environment): void {
  env.registerType('JsonPatchNamespace', JsonPatchNamespace);
  env.registerConstant('jsonpatch', 'JsonPatchNamespace', new JsonPatchNamespace());
  env.registerFunction('JsonPatchNamespace.escapeKey(string): string', escapeKey);
  // One handler for every environment, so that compiled code can call it directly (overloads.ts).
  addOverload('JsonPatchNamespace', 'escapeKey', ['string'], escapeKey as Handler);
  registerObjectConstruction(env);
}
