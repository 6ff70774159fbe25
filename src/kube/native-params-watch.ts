// `serve --native-params-from-cluster`: the param objects of native policies (their spec.paramKind,
// e.g. ConfigMaps) listed and watched in the cluster, so that a binding's paramRef finds them there
// as the apiserver would. One informer per paramKind; the kind's resource name comes from the API's
// discovery. It needs list and watch on each paramKind's resource (opt-in RBAC, see deploy/).
import type { Logger } from 'pino';
import { isJsonObject } from '../common/vocabulary.js';
import { parseSourceText, type SourceDocument } from '../common/yaml-documents.js';
import { CustomObjectWatch } from './custom-object-watch.js';
import type { KubeConfig } from './kube-config.js';
import { clusterServer, kubeApiError, kubeRequest } from './kube-request.js';

/** A native policy's spec.paramKind (kube sits beside the policy layer, so the shape is repeated here). */
export interface ParamKind {
  apiVersion: string;
  kind: string;
}

export interface NativeParamsWatchOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Called when the objects of a watched paramKind changed (after its first list too). */
  onChange(): void;
}

function keyOf(kind: ParamKind): string {
  return `${kind.apiVersion}/${kind.kind}`;
}

/** The API's path prefix for an apiVersion: /api/v1 for the core group, /apis/<group>/<version> otherwise. */
function apiPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/**
 * The resource name (plural) the API serves `kind` under, from the discovery document of its
 * apiVersion (what kubectl reads); undefined when the apiVersion does not serve the kind.
 */
export async function resourceOfKind(kubeConfig: KubeConfig, kind: ParamKind): Promise<string | undefined> {
  const path = apiPrefix(kind.apiVersion);
  const answer = await kubeRequest(kubeConfig, 'GET', new URL(`${clusterServer(kubeConfig)}${path}`));
  if (answer.status === 404) return undefined;
  if (answer.status !== 200 || !isJsonObject(answer.body) || !Array.isArray(answer.body.resources)) throw kubeApiError('GET', path, answer);
  // Subresources (deployments/scale) share the kind of another resource: only top-level names count.
  const resource = answer.body.resources.find((entry) => isJsonObject(entry) && entry.kind === kind.kind && typeof entry.name === 'string' && !entry.name.includes('/'));
  return isJsonObject(resource) ? String(resource.name) : undefined;
}

export class NativeParamsWatch {
  private readonly watches = new Map<string, { kind: ParamKind; watch?: CustomObjectWatch }>();
  private closed = false;

  constructor(private readonly options: NativeParamsWatchOptions) {}

  /** Starts watching every kind not watched yet (kinds no longer declared keep being watched: a reload may bring them back). */
  watch(kinds: Iterable<ParamKind>): void {
    for (const kind of kinds) {
      const key = keyOf(kind);
      if (this.watches.has(key)) continue;
      const entry: { kind: ParamKind; watch?: CustomObjectWatch } = { kind };
      this.watches.set(key, entry);
      void this.startWatch(entry);
    }
  }

  private async startWatch(entry: { kind: ParamKind; watch?: CustomObjectWatch }): Promise<void> {
    const { kind } = entry;
    const { logger, kubeConfig } = this.options;
    let resource: string | undefined;
    for (let attempt = 0; resource === undefined && !this.closed; attempt++) {
      try {
        resource = await resourceOfKind(kubeConfig, kind);
        if (resource === undefined) throw new Error(`the cluster serves no ${kind.kind} in ${kind.apiVersion}`);
      } catch (error) {
        logger.warn({ err: error, paramKind: keyOf(kind), attempt }, 'cannot resolve a native policy\'s paramKind; its bindings find no params until it resolves');
        await new Promise((resolve) => setTimeout(resolve, 2_000).unref());
      }
    }
    if (resource === undefined || this.closed) return;
    entry.watch = new CustomObjectWatch({
      resource: { path: `${apiPrefix(kind.apiVersion)}/${resource}`, apiVersion: kind.apiVersion, kind: kind.kind },
      logger,
      kubeConfig,
      onChange: () => this.options.onChange(),
    });
    entry.watch.start();
  }

  /** Every param object seen, as documents the policy loader reads (list items carry no apiVersion or kind: they are set). */
  documents(): SourceDocument[] {
    const documents: SourceDocument[] = [];
    for (const { kind, watch } of this.watches.values()) {
      for (const object of watch?.list() ?? []) {
        const value = { ...object, apiVersion: kind.apiVersion, kind: kind.kind };
        const where = `cluster:${keyOf(kind)}/${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name ?? ''}`;
        documents.push(...parseSourceText(where, JSON.stringify(value)));
      }
    }
    return documents;
  }

  close(): void {
    this.closed = true;
    for (const { watch } of this.watches.values()) watch?.close();
  }
}
