// The AdmissionReviews the webhook benchmarks send, built the way the kube-apiserver builds them: the
// manifest defaulted as the apiserver defaults it, with a managedFields entry (and, after a client-side
// `kubectl apply`, the last-applied annotation) in the metadata: a large share of a real review's bytes.
//
//   small (~5 KB): CREATE (server-side apply) of a compliant node-exporter in `monitoring`, a
//                  namespace that enforces the Pod Security Standards' Baseline level, so every
//                  policy of the library has work to do.
//   large (~60 KB): UPDATE (client-side `kubectl apply`) of a cilium agent in `kube-system`, object
//                   and oldObject, with the long environment lists such agents carry.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { applyApiserverDefaults } from '../src/apiserver/daemonset-defaults.js';
import type { JsonObject, JsonValue } from '../src/common/vocabulary.js';

/** The repository root (this file runs from build/bench/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BUILT_IN_POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));

export type PayloadName = 'small' | 'large';

/** The namespaces the server is told about (`serve --namespaces`): their labels select the pod-security policies. */
export const NAMESPACES_YAML = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: kube-system
      labels: {kubernetes.io/metadata.name: kube-system, pod-security.kubernetes.io/enforce: privileged}
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: monitoring
      labels: {kubernetes.io/metadata.name: monitoring, pod-security.kubernetes.io/enforce: baseline}
`;

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * metadata.managedFields' fieldsV1 for an object, as the apiserver's field manager writes it: `f:` for
 * map keys, `k:{"name":...}` for list entries with a name, `v:` for scalar list entries.
 */
function fieldsV1(value: JsonValue): JsonObject {
  const out: JsonObject = {};
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
        const key = typeof item.name === 'string' ? `k:${JSON.stringify({ name: item.name })}` : `k:${JSON.stringify({ containerPort: item.containerPort ?? 0 })}`;
        out[key] = { '.': {}, ...fieldsV1(item) };
      } else {
        out[`v:${JSON.stringify(item)}`] = {};
      }
    }
    return out;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      out[`f:${key}`] = member !== null && typeof member === 'object' ? fieldsV1(member) : {};
    }
  }
  return out;
}

/**
 * The object as the apiserver hands it to admission after `kubectl apply` (client-side: the
 * last-applied annotation holds the manifest again) or a server-side apply (Helm, Argo CD: only the
 * managedFields entry).
 */
function asAdmitted(manifest: JsonObject, namespace: string, generation: number, clientSideApply: boolean): JsonObject {
  const metadata = manifest.metadata as JsonObject;
  if (clientSideApply) {
    const annotations = (metadata.annotations as JsonObject | undefined) ?? {};
    annotations['kubectl.kubernetes.io/last-applied-configuration'] = `${JSON.stringify(manifest)}\n`;
    metadata.annotations = annotations;
  }
  metadata.generation = generation;
  metadata.uid = 'f3d7a1c2-6b1e-4c55-9a0e-2f1b8c7d4e10';
  metadata.resourceVersion = String(41_000 + generation);
  metadata.creationTimestamp = '2026-11-20T09:14:07Z';
  metadata.managedFields = [
    {
      manager: clientSideApply ? 'kubectl-client-side-apply' : 'argocd-controller',
      operation: clientSideApply ? 'Update' : 'Apply',
      apiVersion: 'apps/v1',
      time: '2026-11-27T08:01:33Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1({ metadata: { annotations: metadata.annotations ?? {}, labels: metadata.labels ?? {} }, spec: manifest.spec ?? {} }),
    },
  ];
  return applyApiserverDefaults(manifest, { namespace });
}

function admissionReview(operation: 'CREATE' | 'UPDATE', object: JsonObject, oldObject: JsonObject | null): JsonObject {
  const metadata = object.metadata as JsonObject;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '00000000-0000-4000-8000-000000000000',
      kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      requestKind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      requestResource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      name: metadata.name as string,
      namespace: metadata.namespace as string,
      operation,
      userInfo: {
        username: 'system:serviceaccount:argocd:argocd-application-controller',
        uid: '9b2f0c1e-1d8a-4f7e-b0a4-5c3e2d1f0a99',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'],
        extra: { 'authentication.kubernetes.io/pod-name': ['argocd-application-controller-0'] },
      },
      object,
      oldObject,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', fieldManager: 'kubectl-client-side-apply' },
    },
  };
}

/** A node-exporter that every policy of the library accepts (no host namespaces, no hostPath, pinned image). */
function nodeExporter(): JsonObject {
  const labels = { 'app.kubernetes.io/name': 'node-exporter', 'app.kubernetes.io/instance': 'monitoring', 'app.kubernetes.io/version': '1.8.2' };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'node-exporter', namespace: 'monitoring', labels: { ...labels, 'app.kubernetes.io/managed-by': 'Helm' } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'node-exporter' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%', maxSurge: 0 } },
      revisionHistoryLimit: 10,
      template: {
        metadata: { labels, annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' } },
        spec: {
          serviceAccountName: 'node-exporter',
          automountServiceAccountToken: false,
          priorityClassName: 'system-node-critical',
          securityContext: { fsGroup: 65534, runAsGroup: 65534, runAsNonRoot: true, runAsUser: 65534 },
          tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }],
          containers: [
            {
              name: 'node-exporter',
              image: 'quay.io/prometheus/node-exporter:v1.8.2@sha256:4032c6d5bfd752342c3e631c2f1de93ba6b86c41db6b167b9a35372c139e7706',
              args: ['--web.listen-address=[$(HOST_IP)]:9100', '--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|var/lib/docker/.+)($|/)', '--no-collector.wifi'],
              env: [{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }],
              ports: [{ name: 'metrics', containerPort: 9100, protocol: 'TCP' }],
              livenessProbe: { httpGet: { path: '/', port: 9100 }, failureThreshold: 3, periodSeconds: 10 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
}

/** The cilium agent of test/policies/resources, with an environment as long as a production install's. */
function ciliumAgent(imageTag: string): JsonObject {
  const manifest = parse(readFileSync(new URL('../../test/policies/resources/cilium.yaml', import.meta.url), 'utf8')) as JsonObject;
  const spec = (((manifest.spec as JsonObject).template as JsonObject).spec as JsonObject);
  const containers = [...(spec.initContainers as JsonObject[]), ...(spec.containers as JsonObject[])];
  containers.forEach((container, c) => {
    container.image = String(container.image).replace(':v1.15.6', `:${imageTag}`);
    const env = (container.env as JsonObject[] | undefined) ?? [];
    for (let i = 0; i < (c === containers.length - 1 ? 40 : 10); i++) {
      env.push(
        i % 3 === 0
          ? { name: `CILIUM_OPTION_${c}_${i}`, valueFrom: { configMapKeyRef: { name: 'cilium-config', key: `option-${c}-${i}`, optional: true } } }
          : { name: `CILIUM_SETTING_${c}_${i}`, value: `enabled-${i}-${'x'.repeat(i % 7)}` },
      );
    }
    container.env = env;
  });
  return manifest;
}

/** The review's JSON text for `payload`, with a placeholder uid (see withUid). */
export function reviewTemplate(payload: PayloadName): JsonObject {
  if (payload === 'small') {
    return admissionReview('CREATE', asAdmitted(nodeExporter(), 'monitoring', 1, false), null);
  }
  const oldObject = asAdmitted(ciliumAgent('v1.15.6'), 'kube-system', 7, true);
  const object = asAdmitted(ciliumAgent('v1.15.7'), 'kube-system', 8, true);
  return admissionReview('UPDATE', object, oldObject);
}

/** A copy of the review with its own request uid (the apiserver gives each call a new one). */
export function withUid(review: JsonObject, uid: string): JsonObject {
  const copy = clone(review);
  (copy.request as JsonObject).uid = uid;
  return copy;
}

/** `count` bodies of the payload, each with its own uid, as JSON text. */
export function reviewBodies(payload: PayloadName, count: number, prefix: string): string[] {
  const template = reviewTemplate(payload);
  return Array.from({ length: count }, (_, i) => JSON.stringify(withUid(template, `${prefix}-${payload}-${String(i).padStart(4, '0')}`)));
}
