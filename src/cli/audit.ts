// The audit of DaemonSets that already run: each stored DaemonSet judged as an UPDATE that changes
// nothing would be (object = oldObject = the object as the apiserver stores it, never defaulted
// again), through the same admission pipeline `daemonguard test` uses, with its Namespace when the
// inventory has it. Where the DaemonSets come from (a dump, the cluster's list API) is the caller's.
import { reviewAdmission, type ReviewedAdmission } from '../admission/pipeline.js';
import { unchangedUpdateRequest } from '../apiserver/admission-request.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import type { PolicySet } from '../policy/types.js';
import type { ManifestDocument, ManifestProblem } from './manifest-reader.js';
import { policyReports, type PolicyReport } from './outcomes.js';
import type { FailOn, TestReport, TestResult } from './report/model.js';

/** One audited DaemonSet: what `test` reports for a manifest, plus what only a stored object has. */
export interface AuditResult extends TestResult {
  /** status.desiredNumberScheduled: the nodes it runs on (undefined when the object has no status). */
  nodes: number | undefined;
  uid: string | undefined;
}

/** What the Reports, the gauges and the impact read of an admission: no request, no object. */
export type AuditedAdmission = Pick<ReviewedAdmission, 'allowed' | 'warnings' | 'violations' | 'exceptions'>;

/**
 * What the background audit keeps of one audited DaemonSet: enough for its Report entries and the
 * policies' impact, small enough to pass between threads cheaply (an AuditResult is one too).
 */
export interface AuditFinding {
  namespace: string;
  name: string;
  uid: string | undefined;
  nodes: number | undefined;
  policies: PolicyReport[];
  admission: AuditedAdmission;
}

/** The finding of a result, without the requests and objects the result also holds. */
export function findingOf(result: AuditResult): AuditFinding {
  const { allowed, warnings, violations, exceptions } = result.admission;
  return { namespace: result.namespace, name: result.name, uid: result.uid, nodes: result.nodes, policies: result.policies, admission: { allowed, warnings, violations, exceptions } };
}

/** An audit as the background audit keeps it: every finding and when the audit started. */
export interface AuditFindings {
  results: AuditFinding[];
  auditedAt: Date;
}

export interface AuditReport extends TestReport {
  results: AuditResult[];
  /** Namespaces of audited DaemonSets that the inventory had no Namespace object for. */
  missingNamespaces: string[];
  /** When the audit ran: the reports' timestamp. */
  auditedAt: Date;
}

export interface AuditOptions {
  failOn: FailOn;
  /** Called after each DaemonSet with the number reviewed so far. */
  onReviewed?: (reviewed: number) => void;
  /**
   * Awaited after each DaemonSet. The engine is synchronous: a server auditing in the background
   * yields here (setImmediate) so that admission requests are answered between two DaemonSets.
   */
  pause?: () => Promise<void>;
}

/** What the audit reads: DaemonSets (in pages, so a large cluster streams through) and every Namespace. */
export interface AuditInventory {
  namespaces: ReadonlyMap<string, JsonObject>;
  daemonSetPages: AsyncIterable<readonly ManifestDocument[]> | Iterable<readonly ManifestDocument[]>;
  /** Documents that could not be audited (the run exits 2). */
  problems: ManifestProblem[];
  /** Documents that are neither DaemonSets nor Namespaces. */
  skipped: number;
}

function metadataString(object: JsonObject, field: string): string | undefined {
  const metadata = object.metadata;
  const value = isJsonObject(metadata) ? metadata[field] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function desiredNodes(object: JsonObject): number | undefined {
  const status = object.status;
  const desired = isJsonObject(status) ? status.desiredNumberScheduled : undefined;
  return typeof desired === 'number' ? desired : undefined;
}

/** Audits one stored DaemonSet against `policySet`. */
export async function auditDaemonSet(manifest: ManifestDocument, policySet: PolicySet, namespaces: ReadonlyMap<string, JsonObject>): Promise<AuditResult> {
  const stored = manifest.object;
  const namespace = metadataString(stored, 'namespace') ?? '';
  const request = unchangedUpdateRequest(stored);
  // An unknown namespace stays unknown (null): policies that need its labels fail by their failurePolicy,
  // as they would in a server that does not know it, rather than matching an invented Namespace.
  const admission = await reviewAdmission(request, policySet, { namespaceObject: namespaces.get(namespace) ?? null });
  return {
    file: manifest.file,
    line: manifest.line,
    name: metadataString(stored, 'name') ?? '',
    namespace,
    admission,
    policies: policyReports(admission, policySet),
    nodes: desiredNodes(stored),
    uid: metadataString(stored, 'uid'),
  };
}

/** Audits every DaemonSet of the inventory, page by page. */
export async function runAudit(inventory: AuditInventory, policySet: PolicySet, options: AuditOptions): Promise<AuditReport> {
  const auditedAt = new Date();
  const results: AuditResult[] = [];
  const missing = new Set<string>();
  for await (const page of inventory.daemonSetPages) {
    for (const manifest of page) {
      const result = await auditDaemonSet(manifest, policySet, inventory.namespaces);
      if (!inventory.namespaces.has(result.namespace)) missing.add(result.namespace);
      results.push(result);
      options.onReviewed?.(results.length);
      if (options.pause !== undefined) await options.pause();
    }
  }
  return {
    results,
    errors: inventory.problems,
    skipped: inventory.skipped,
    policySet,
    failOn: options.failOn,
    missingNamespaces: [...missing].sort(),
    auditedAt,
  };
}
