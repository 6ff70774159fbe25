// How deeply a parsed JSON value nests, measured without recursion.
//
// JSON.parse accepts any depth (100,000 nested arrays parse fine), but every recursive walk after it —
// conversion to CEL values, structuredClone, the JSON Patch library, logging — overflows the stack long
// before that. The kube-apiserver never sends anything deeper than Go's encoding/json limit (10,000), and
// a real DaemonSet nests about 15 levels; so requests are refused at MAX_JSON_DEPTH, well inside what
// every walk handles.

/** Deepest nesting accepted in a review: far above any Kubernetes object, far below any stack limit. */
export const MAX_JSON_DEPTH = 1000;

/**
 * The path (keys and indexes) to the first object or array nested more than `limit` levels deep, or
 * undefined when there is none. The top-level value is depth 1. Iterative: safe on any depth.
 */
export function findDepthViolation(value: unknown, limit = MAX_JSON_DEPTH): (string | number)[] | undefined {
  interface Frame {
    value: unknown;
    depth: number;
    key: string | number | undefined;
    parent: Frame | undefined;
  }
  const stack: Frame[] = [{ value, depth: 1, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const current = frame.value;
    if (typeof current !== 'object' || current === null) continue;
    if (frame.depth > limit) {
      const path: (string | number)[] = [];
      for (let at: Frame | undefined = frame; at !== undefined && at.key !== undefined; at = at.parent) path.push(at.key);
      return path.reverse();
    }
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        const item: unknown = current[i];
        if (typeof item === 'object' && item !== null) stack.push({ value: item, depth: frame.depth + 1, key: i, parent: frame });
      }
    } else {
      const record = current as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const item = record[key];
        if (typeof item === 'object' && item !== null) stack.push({ value: item, depth: frame.depth + 1, key, parent: frame });
      }
    }
  }
  return undefined;
}
