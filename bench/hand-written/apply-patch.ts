// Applies the twins' `add` operations to a DaemonSet, so that each mutating twin sees the object after
// the earlier ones' operations, as the engine's policies do. Copy on write: only the objects and lists
// on the operation's path are copied, the request's object is never modified.
import type { JsonObject, JsonValue } from '../../src/common/vocabulary.js';
import type { PatchOperation } from '../../src/engine/types.js';

function segmentsOf(pointer: string): string[] {
  return pointer.split('/').slice(1).map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * `document` with `operation` (an `add`, the only operation the twins write) applied. Throws, naming the
 * path, when the parent is missing: the apiserver would refuse such a patch, so a twin that writes one is wrong.
 */
export function applyAdd(document: JsonObject, operation: PatchOperation): JsonObject {
  if (operation.op !== 'add' || operation.value === undefined) throw new Error(`twins write only "add" operations with a value, not ${operation.op} ${operation.path}`);
  const segments = segmentsOf(operation.path);
  if (segments.length === 0) throw new Error('an "add" at the root would replace the whole object');
  const root: JsonObject = { ...document };
  let parent: JsonObject | JsonValue[] = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i]!;
    const child: JsonValue | undefined = Array.isArray(parent) ? parent[Number(key)] : Object.hasOwn(parent, key) ? parent[key] : undefined;
    if (child === undefined || child === null || typeof child !== 'object') throw new Error(`add ${operation.path}: /${segments.slice(0, i + 1).join('/')} does not exist`);
    const copy: JsonObject | JsonValue[] = Array.isArray(child) ? [...child] : { ...child };
    if (Array.isArray(parent)) parent[Number(key)] = copy;
    else parent[key] = copy;
    parent = copy;
  }
  const last = segments[segments.length - 1]!;
  if (Array.isArray(parent)) {
    if (last === '-') parent.push(operation.value);
    else parent.splice(Number(last), 0, operation.value);
  } else {
    // defineProperty: a `__proto__` key stays an own data property.
    Object.defineProperty(parent, last, { value: operation.value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}
