// The ValidatingWebhookConfiguration and MutatingWebhookConfiguration that put daemonguard in front
// of apps/v1 DaemonSets. `daemonguard manifests` prints them; deploy/base/webhooks.yaml and the Helm
// chart hold the same objects (tests compare them with this file), so the safety rules live here once:
//
// - Only `daemonsets`, CREATE and UPDATE. Never `daemonsets/status`: the DaemonSet controller writes
//   status, and nodes joining the cluster need nothing from daemonguard (pods are not intercepted).
// - daemonguard's own namespace is always excluded, so a broken webhook can always be redeployed,
//   and so is any namespace labelled daemonguard.dev/ignore=true: the documented way out.
// - Validation fails closed (failurePolicy Fail) except in the fail-open namespaces (kube-system by
//   default), which get a second webhook with failurePolicy Ignore: their DaemonSets (CNI, kube-proxy,
//   CSI node plugins) are still checked while daemonguard is up, and never blocked while it is down.
// - Mutation fails open: defaults are a convenience, never a reason to refuse.
// - Objects being deleted are skipped (matchConditions): the garbage collector must be able to
//   remove finalizers from a DaemonSet that no longer passes the policies.
// - Short timeouts, one version (admission.k8s.io/v1), no side effects.

export const DEFAULT_NAMESPACE = 'daemonguard-system';
export const DEFAULT_SERVICE = 'daemonguard';
export const DEFAULT_CONFIGURATION_NAME = 'daemonguard';
export const DEFAULT_TIMEOUT_SECONDS = 5;
export const DEFAULT_FAIL_OPEN_NAMESPACES: readonly string[] = ['kube-system'];
/** A namespace with this label set to "true" is never sent to daemonguard. */
export const IGNORE_LABEL = 'daemonguard.dev/ignore';
/** Set by the kube-apiserver on every namespace (immutable), so selectors can name namespaces. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export const VALIDATING_WEBHOOK_NAME = 'validate.daemonguard.dev';
export const VALIDATING_FAIL_OPEN_WEBHOOK_NAME = 'validate-fail-open.daemonguard.dev';
export const MUTATING_WEBHOOK_NAME = 'mutate.daemonguard.dev';

export type FailurePolicy = 'Fail' | 'Ignore';

export type WebhookClient =
  | { service: { name: string; namespace: string; port?: number } }
  /** An https base URL; /validate and /mutate are appended. */
  | { url: string };

export interface WebhookConfigurationOptions {
  /** metadata.name of both configurations. */
  name?: string;
  /** daemonguard's own namespace: always excluded. */
  namespace?: string;
  client: WebhookClient;
  /** base64 of the PEM CA bundle; omitted when cert-manager's cainjector fills it in. */
  caBundle?: string;
  validatingFailurePolicy?: FailurePolicy;
  mutatingFailurePolicy?: FailurePolicy;
  timeoutSeconds?: number;
  /** More namespaces never sent to daemonguard. */
  excludeNamespaces?: readonly string[];
  /** Namespaces validated with failurePolicy Ignore (only meaningful when validation fails closed). */
  failOpenNamespaces?: readonly string[];
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  clientConfig: { service?: { name: string; namespace: string; path: string; port: number }; url?: string; caBundle?: string };
  rules: { apiGroups: string[]; apiVersions: string[]; resources: string[]; operations: string[]; scope: string }[];
  failurePolicy: FailurePolicy;
  matchPolicy: 'Equivalent';
  namespaceSelector: { matchExpressions: LabelSelectorRequirement[] };
  matchConditions: { name: string; expression: string }[];
  sideEffects: 'None';
  timeoutSeconds: number;
  reinvocationPolicy?: 'IfNeeded' | 'Never';
}

export interface WebhookConfiguration {
  apiVersion: 'admissionregistration.k8s.io/v1';
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  webhooks: Webhook[];
}

const RULES: Webhook['rules'] = [
  { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
];

const MATCH_CONDITIONS: Webhook['matchConditions'] = [
  // On UPDATE `object` is the new object; a deletionTimestamp means the object is on its way out.
  { name: 'not-being-deleted', expression: '!has(object.metadata.deletionTimestamp)' },
];

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${url} is not a URL`);
  }
  // What the kube-apiserver accepts for clientConfig.url.
  if (parsed.protocol !== 'https:') throw new Error(`${url}: the kube-apiserver calls webhooks over https only`);
  if (parsed.username !== '' || parsed.password !== '') throw new Error(`${url}: user information is not allowed in a webhook URL`);
  if (parsed.search !== '' || parsed.hash !== '') throw new Error(`${url}: a webhook URL has no query or fragment`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

/** Both configurations, in the order they are best applied (validating first). */
export function renderWebhookConfigurations(options: WebhookConfigurationOptions): [WebhookConfiguration, WebhookConfiguration] {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) throw new Error('timeoutSeconds must be a whole number from 1 to 30');
  const validatingFailurePolicy = options.validatingFailurePolicy ?? 'Fail';
  const excluded = unique([namespace, ...(options.excludeNamespaces ?? [])]);
  const failOpen =
    validatingFailurePolicy === 'Fail' ? unique(options.failOpenNamespaces ?? DEFAULT_FAIL_OPEN_NAMESPACES).filter((name) => !excluded.includes(name)) : [];
  const baseUrl = 'url' in options.client ? checkUrl(options.client.url) : undefined;

  const clientConfig = (path: string): Webhook['clientConfig'] => {
    const config: Webhook['clientConfig'] =
      'service' in options.client
        ? { service: { name: options.client.service.name, namespace: options.client.service.namespace, path, port: options.client.service.port ?? 443 } }
        : { url: `${baseUrl}${path}` };
    if (options.caBundle !== undefined && options.caBundle !== '') config.caBundle = options.caBundle;
    return config;
  };
  const notIgnored: LabelSelectorRequirement = { key: IGNORE_LABEL, operator: 'NotIn', values: ['true'] };
  const webhook = (name: string, path: string, failurePolicy: FailurePolicy, names: LabelSelectorRequirement): Webhook => ({
    name,
    admissionReviewVersions: ['v1'],
    clientConfig: clientConfig(path),
    rules: structuredClone(RULES),
    failurePolicy,
    matchPolicy: 'Equivalent',
    namespaceSelector: { matchExpressions: [names, structuredClone(notIgnored)] },
    matchConditions: structuredClone(MATCH_CONDITIONS),
    sideEffects: 'None',
    timeoutSeconds,
  });
  const metadata = (): WebhookConfiguration['metadata'] => {
    const result: WebhookConfiguration['metadata'] = { name: options.name ?? DEFAULT_CONFIGURATION_NAME };
    if (options.labels !== undefined && Object.keys(options.labels).length > 0) result.labels = { ...options.labels };
    if (options.annotations !== undefined && Object.keys(options.annotations).length > 0) result.annotations = { ...options.annotations };
    return result;
  };

  const validating: WebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: metadata(),
    webhooks: [
      webhook(VALIDATING_WEBHOOK_NAME, '/validate', validatingFailurePolicy, {
        key: NAMESPACE_NAME_LABEL,
        operator: 'NotIn',
        values: [...excluded, ...failOpen],
      }),
    ],
  };
  if (failOpen.length > 0) {
    validating.webhooks.push(
      webhook(VALIDATING_FAIL_OPEN_WEBHOOK_NAME, '/validate', 'Ignore', { key: NAMESPACE_NAME_LABEL, operator: 'In', values: failOpen }),
    );
  }
  const mutating: WebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: metadata(),
    webhooks: [
      {
        ...webhook(MUTATING_WEBHOOK_NAME, '/mutate', options.mutatingFailurePolicy ?? 'Ignore', {
          key: NAMESPACE_NAME_LABEL,
          operator: 'NotIn',
          values: excluded,
        }),
        reinvocationPolicy: 'IfNeeded',
      },
    ],
  };
  return [validating, mutating];
}
