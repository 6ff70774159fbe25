// What `daemonguard export` produces per policy, and the options every format shares.
import type { JsonObject, ValidationAction } from '../common/vocabulary.js';

export const EXPORT_FORMATS = ['vap', 'map'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** Put before each policy's name to name the native policy and binding (keeps them apart from others). */
  namePrefix: string;
  /** Namespaces no binding selects, whatever the policy says (the webhook's own, kube-system, ...). */
  excludeNamespaces: readonly string[];
  /** Replaces every policy's validationActions in the bindings (roll out in Warn or Audit first). */
  validationActions?: readonly ValidationAction[];
}

/**
 * One policy's outcome: its native documents; or not exportable, with why (a construct that has no
 * native form); or skipped, with why (nothing for this format: a purely mutating policy for vap).
 */
export type PolicyExport =
  | { policy: string; kind: 'exported'; documents: JsonObject[] }
  | { policy: string; kind: 'not-exportable'; reason: string }
  | { policy: string; kind: 'skipped'; reason: string };
