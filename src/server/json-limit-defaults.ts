// The structural limits a review body is held to by default, and the `serve` flags that change them.
// Each is far above what any real DaemonSet needs (see SECURITY.md for the figures), and low enough that
// the largest body they let through is evaluated within the deployed heap (--max-old-space-size=384).

import type { JsonLimitName, JsonLimits } from '../common/json-limits.js';
import { MAX_JSON_DEPTH } from '../common/json-depth.js';

export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = {
  // Go's encoding/json stops at 10,000; a DaemonSet nests about 15 levels (managedFields about 20).
  maxDepth: MAX_JSON_DEPTH,
  // The longest lists in real DaemonSets (env, volumes, args, tolerations) hold tens to hundreds of entries.
  maxElements: 10_000,
  // A large real DaemonSet (cilium's agent) is about 1,000 values, its UPDATE review with managedFields
  // about 5,000. Each value costs a few hundred bytes of heap once parsed and converted for CEL.
  maxNodes: 200_000,
  // etcd stores nothing larger than 1.5 MiB, so no stored DaemonSet holds a longer string.
  maxStringBytes: 1.5 * 1024 * 1024,
};

/** The `daemonguard serve` flag of each limit, for messages. */
export const JSON_LIMIT_FLAGS: Readonly<Record<JsonLimitName, string>> = {
  depth: '--max-json-depth',
  elements: '--max-json-elements',
  nodes: '--max-json-nodes',
  'string-bytes': '--max-json-string-bytes',
};
