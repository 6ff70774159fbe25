// What the kube-apiserver does to an apps/v1 DaemonSet before any admission webhook sees it, so that
// `daemonguard test` reviews the object the cluster would review, not the file.
//
// Source of truth: Kubernetes v1.37.2, pkg/apis/apps/v1/zz_generated.defaults.go
// (SetObjectDefaults_DaemonSet), pkg/apis/apps/v1/defaults.go (SetDefaults_DaemonSet),
// pkg/apis/core/v1/defaults.go (PodSpec, Container, Probe, Volume… defaulters), the declarative
// `+default` markers of k8s.io/api, and pkg/apis/apps/v1/conversion.go. Steps, in the apiserver's order:
//   1. decode into the Go types (go-json.ts): unknown fields dropped, null = zero value;
//   2. defaulting (below);
//   3. conversion to the internal version and back for the webhook, which adds the annotation
//      deprecated.daemonset.template.generation (the internal templateGeneration, "0" before create);
//   4. encode (go-json.ts): omitempty zero values vanish, `resources: {}` and `status` counters
//      appear, quantities print canonically (container resources rounded up to milli).
//
// Deliberately not done, because a Pod and not a pod template gets it (SetDefaults_Pod): requests
// copied from limits, enableServiceLinks, hostPort = containerPort under hostNetwork, pod-level
// resource defaults, terminationGracePeriodSeconds < 0 -> 1, the H2C probe protocol.
//
// Not covered (the webhook's object differs from ours there):
//   - metadata.managedFields: the field manager adds an entry (manager, time, fieldsV1) before
//     mutating admission; its content depends on the client and the clock.
//   - Values the apiserver refuses outright (a quantity it cannot parse, a string in an int field,
//     with strict field validation an unknown field): we keep them and report unknown fields.
//   - Admission plugins that run before webhooks and change pod templates (none of the default
//     plugins do for DaemonSets; a cluster may add its own mutating webhooks before ours).
//   - metav1.MicroTime fields (none in a DaemonSet) would print microseconds.
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';
import { reencodeAsGo } from './go-json.js';
import { defaultImagePullPolicy } from './image-reference.js';

export const TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

export interface ApiserverDefaultsOptions {
  /** The request's namespace, written into metadata.namespace when the manifest has none (as the apiserver does). */
  namespace?: string;
}

/** 0644, the default mode of Secret, ConfigMap, downward API and projected volumes. */
const DEFAULT_VOLUME_MODE = 420;

function object(value: JsonValue | undefined): JsonObject | undefined {
  return isJsonObject(value) ? value : undefined;
}

function objects(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}

/** Go's `if field == ""` / `== nil` / `== 0`: after decoding, these all read as absent. */
function unset(owner: JsonObject, key: string): boolean {
  const value = owner[key];
  return value === undefined || value === null || value === '' || value === 0;
}

function defaultField(owner: JsonObject | undefined, key: string, value: JsonValue): void {
  if (owner && unset(owner, key)) owner[key] = value;
}

/** Pointer fields: only nil is replaced (an explicit 0 or false stays). */
function defaultPointer(owner: JsonObject | undefined, key: string, value: JsonValue): void {
  if (owner && (owner[key] === undefined || owner[key] === null)) owner[key] = value;
}

function defaultDaemonSetSpec(spec: JsonObject): void {
  const strategy = object(spec.updateStrategy) ?? (spec.updateStrategy = {});
  defaultField(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const rollingUpdate = object(strategy.rollingUpdate) ?? (strategy.rollingUpdate = {});
    defaultPointer(rollingUpdate, 'maxUnavailable', 1);
    defaultPointer(rollingUpdate, 'maxSurge', 0);
  }
  defaultPointer(spec, 'revisionHistoryLimit', 10);
}

function defaultPodSpec(pod: JsonObject): void {
  // serviceAccount is the deprecated alias of serviceAccountName; both end up equal.
  if (unset(pod, 'serviceAccountName') && typeof pod.serviceAccount === 'string') pod.serviceAccountName = pod.serviceAccount;
  if (typeof pod.serviceAccountName === 'string' && pod.serviceAccountName !== '') pod.serviceAccount = pod.serviceAccountName;
  else delete pod.serviceAccount;
  defaultField(pod, 'dnsPolicy', 'ClusterFirst');
  defaultField(pod, 'restartPolicy', 'Always');
  defaultPointer(pod, 'securityContext', {});
  defaultPointer(pod, 'terminationGracePeriodSeconds', 30);
  defaultField(pod, 'schedulerName', 'default-scheduler');
}

function defaultFieldRef(fieldRef: JsonObject | undefined): void {
  defaultField(fieldRef, 'apiVersion', 'v1');
}

function defaultDownwardApiItems(items: JsonValue | undefined): void {
  for (const item of objects(items)) defaultFieldRef(object(item.fieldRef));
}

function defaultVolume(volume: JsonObject): void {
  const sources = Object.keys(volume).filter((key) => key !== 'name' && volume[key] !== null && volume[key] !== undefined);
  if (sources.length === 0) volume.emptyDir = {};

  const image = object(volume.image);
  if (image && unset(image, 'pullPolicy')) image.pullPolicy = defaultImagePullPolicy(typeof image.reference === 'string' ? image.reference : '');
  defaultPointer(object(volume.hostPath), 'type', '');
  defaultPointer(object(volume.secret), 'defaultMode', DEFAULT_VOLUME_MODE);
  defaultField(object(volume.iscsi), 'iscsiInterface', 'default');
  const rbd = object(volume.rbd);
  defaultField(rbd, 'pool', 'rbd');
  defaultField(rbd, 'user', 'admin');
  defaultField(rbd, 'keyring', '/etc/ceph/keyring');
  const downwardAPI = object(volume.downwardAPI);
  if (downwardAPI) {
    defaultPointer(downwardAPI, 'defaultMode', DEFAULT_VOLUME_MODE);
    defaultDownwardApiItems(downwardAPI.items);
  }
  defaultPointer(object(volume.configMap), 'defaultMode', DEFAULT_VOLUME_MODE);
  const azureDisk = object(volume.azureDisk);
  defaultPointer(azureDisk, 'cachingMode', 'ReadWrite');
  defaultPointer(azureDisk, 'fsType', 'ext4');
  defaultPointer(azureDisk, 'readOnly', false);
  defaultPointer(azureDisk, 'kind', 'Shared');
  const projected = object(volume.projected);
  if (projected) {
    defaultPointer(projected, 'defaultMode', DEFAULT_VOLUME_MODE);
    for (const source of objects(projected.sources)) {
      defaultDownwardApiItems(object(source.downwardAPI)?.items);
      defaultPointer(object(source.serviceAccountToken), 'expirationSeconds', 3600);
    }
  }
  const scaleIO = object(volume.scaleIO);
  defaultField(scaleIO, 'storageMode', 'ThinProvisioned');
  defaultField(scaleIO, 'fsType', 'xfs');
  const claimSpec = object(object(object(volume.ephemeral)?.volumeClaimTemplate)?.spec);
  defaultPointer(claimSpec, 'volumeMode', 'Filesystem');
}

function defaultHttpGet(httpGet: JsonObject | undefined): void {
  defaultField(httpGet, 'path', '/');
  defaultField(httpGet, 'scheme', 'HTTP');
}

function defaultProbe(probe: JsonObject | undefined): void {
  if (!probe) return;
  defaultField(probe, 'timeoutSeconds', 1);
  defaultField(probe, 'periodSeconds', 10);
  defaultField(probe, 'successThreshold', 1);
  defaultField(probe, 'failureThreshold', 3);
  defaultHttpGet(object(probe.httpGet));
  defaultPointer(object(probe.grpc), 'service', '');
}

function defaultContainer(container: JsonObject): void {
  if (unset(container, 'imagePullPolicy')) container.imagePullPolicy = defaultImagePullPolicy(typeof container.image === 'string' ? container.image : '');
  defaultField(container, 'terminationMessagePath', '/dev/termination-log');
  defaultField(container, 'terminationMessagePolicy', 'File');
  for (const port of objects(container.ports)) defaultField(port, 'protocol', 'TCP');
  for (const env of objects(container.env)) {
    const valueFrom = object(env.valueFrom);
    defaultFieldRef(object(valueFrom?.fieldRef));
    defaultPointer(object(valueFrom?.fileKeyRef), 'optional', false);
  }
  defaultProbe(object(container.livenessProbe));
  defaultProbe(object(container.readinessProbe));
  defaultProbe(object(container.startupProbe));
  const lifecycle = object(container.lifecycle);
  defaultHttpGet(object(object(lifecycle?.postStart)?.httpGet));
  defaultHttpGet(object(object(lifecycle?.preStop)?.httpGet));
}

/** Conversion apps/v1 -> internal -> apps/v1 records templateGeneration in an annotation. */
function addTemplateGeneration(metadata: JsonObject): void {
  const annotations = object(metadata.annotations) ?? {};
  const current = annotations[TEMPLATE_GENERATION_ANNOTATION];
  let generation = '0';
  if (typeof current === 'string') {
    if (!/^[+-]?\d+$/.test(current.trim()) || current.trim() !== current) return; // the apiserver refuses the request
    generation = BigInt(current).toString();
  }
  metadata.annotations = { ...annotations, [TEMPLATE_GENERATION_ANNOTATION]: generation };
}

/**
 * The DaemonSet as the kube-apiserver hands it to admission webhooks: decoded, defaulted, converted and
 * encoded again. Pure: `daemonSet` is not modified.
 */
export function applyApiserverDefaults(daemonSet: JsonObject, options: ApiserverDefaultsOptions = {}): JsonObject {
  const decoded = reencodeAsGo(daemonSet).value;
  const metadata = object(decoded.metadata)!;
  if (options.namespace !== undefined && options.namespace !== '' && unset(metadata, 'namespace')) metadata.namespace = options.namespace;
  const spec = object(decoded.spec)!;
  defaultDaemonSetSpec(spec);
  const podSpec = object(object(spec.template)?.spec)!;
  defaultPodSpec(podSpec);
  for (const volume of objects(podSpec.volumes)) defaultVolume(volume);
  for (const key of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const container of objects(podSpec[key])) defaultContainer(container);
  }
  addTemplateGeneration(metadata);
  return reencodeAsGo(decoded).value;
}

/** JSON pointers of the fields in `daemonSet` that an apps/v1 DaemonSet does not have. */
export function unknownDaemonSetFields(daemonSet: JsonObject): string[] {
  return reencodeAsGo(daemonSet).unknownFields;
}
