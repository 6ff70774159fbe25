// Keeps the cluster's daemonguard Reports equal to the ones an audit produced: creates the missing,
// replaces the changed, deletes those of namespaces that no longer have DaemonSets. A Report whose
// content (everything but the results' timestamps) is what the cluster already holds is not written
// again, and writes are spaced out so an audit of a large cluster does not flood the apiserver.
// Needs list/create/update/delete on reports.openreports.io (it lists them, never gets one).
import { createHash } from 'node:crypto';
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';
import type { KubeConfig } from './kube-config.js';
import { answerMessage, clusterServer, kubeRequest } from './kube-request.js';
import { listPages, type ListedResource } from './paged-list.js';

export const REPORTS: ListedResource = { path: '/apis/openreports.io/v1alpha1/reports', apiVersion: 'openreports.io/v1alpha1', kind: 'Report' };
/** Where a written Report keeps the digest of its content, so an unchanged one is recognised without comparing it field by field. */
export const CONTENT_DIGEST_ANNOTATION = 'daemonguard.dev/content-digest';
const MANAGED_SELECTOR = 'app.kubernetes.io/managed-by=daemonguard';

export interface ReportWriterOptions {
  kubeConfig: KubeConfig;
  /** Pause between two writes (default 200 ms: at most 5 writes a second). */
  writeGapMs?: number;
}

export interface SyncOutcome {
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
}

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object.metadata) ? object.metadata : {};
}

function text(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : '';
}

/** The digest of a Report's content: its summary and results without their timestamps (they change on every audit). */
export function contentDigest(report: JsonObject): string {
  const results = Array.isArray(report.results) ? report.results.map((entry) => (isJsonObject(entry) ? { ...entry, timestamp: null } : entry)) : [];
  return createHash('sha256').update(JSON.stringify({ summary: report.summary ?? null, results, source: report.source ?? null })).digest('hex');
}

export class ReportWriter {
  private lastWrite = 0;

  constructor(private readonly options: ReportWriterOptions) {}

  /** Makes the cluster's daemonguard Reports those of `desired` (each with metadata.name and namespace). */
  async sync(desired: readonly JsonObject[]): Promise<SyncOutcome> {
    const existing = new Map<string, JsonObject>();
    for await (const page of listPages(this.options.kubeConfig, REPORTS, 500, MANAGED_SELECTOR)) {
      for (const report of page) existing.set(`${text(metadataOf(report).namespace)}/${text(metadataOf(report).name)}`, report);
    }
    const outcome: SyncOutcome = { created: 0, updated: 0, deleted: 0, unchanged: 0 };
    const wanted = new Set<string>();
    for (const report of desired) {
      const metadata = metadataOf(report);
      const key = `${text(metadata.namespace)}/${text(metadata.name)}`;
      wanted.add(key);
      const digest = contentDigest(report);
      const current = existing.get(key);
      if (current !== undefined && isJsonObject(metadataOf(current).annotations) && (metadataOf(current).annotations as JsonObject)[CONTENT_DIGEST_ANNOTATION] === digest) {
        outcome.unchanged++;
        continue;
      }
      const annotations = { ...(isJsonObject(metadata.annotations) ? metadata.annotations : {}), [CONTENT_DIGEST_ANNOTATION]: digest };
      const body: JsonObject = { ...report, metadata: { ...metadata, annotations } };
      if (current === undefined) {
        await this.write('POST', `/apis/openreports.io/v1alpha1/namespaces/${encodeURIComponent(text(metadata.namespace))}/reports`, body, 201);
        outcome.created++;
      } else {
        // The resourceVersion read makes a concurrent writer's change a conflict rather than something silently overwritten.
        (body.metadata as JsonObject).resourceVersion = metadataOf(current).resourceVersion ?? null;
        await this.write('PUT', this.itemPath(metadata), body, 200);
        outcome.updated++;
      }
    }
    for (const [key, report] of existing) {
      if (wanted.has(key)) continue;
      await this.write('DELETE', this.itemPath(metadataOf(report)), undefined, 200, [404]);
      outcome.deleted++;
    }
    return outcome;
  }

  private itemPath(metadata: JsonObject): string {
    return `/apis/openreports.io/v1alpha1/namespaces/${encodeURIComponent(text(metadata.namespace))}/reports/${encodeURIComponent(text(metadata.name))}`;
  }

  private async write(method: string, path: string, body: JsonObject | undefined, expected: number, alsoFine: readonly number[] = []): Promise<void> {
    const gap = this.options.writeGapMs ?? 200;
    const wait = this.lastWrite + gap - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.lastWrite = Date.now();
    const url = new URL(`${clusterServer(this.options.kubeConfig)}${path}`);
    const answer = await kubeRequest(this.options.kubeConfig, method, url, body);
    if (answer.status !== expected && !alsoFine.includes(answer.status) && !(method === 'POST' && answer.status === 200)) {
      throw new Error(`${method} ${path}: HTTP ${answer.status}: ${answerMessage(answer.body)}`);
    }
  }
}
