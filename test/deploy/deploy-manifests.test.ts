// The files in deploy/ as written (no kustomize or helm needed: the e2e suite builds and applies
// them): the policy copies are current and load as the same set, the base's webhooks are what
// `daemonguard manifests` renders, and the pod runs as locked down as the issue asks.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { servingNamesForService } from '../../src/certs/certificate-folder.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { HELM_POLICIES_DIR, KUSTOMIZE_POLICIES_DIR, planPolicyCopies, staleDeployFiles } from '../../scripts/deploy-policies.js';
import { HELM_CRDS_DIR, staleCrdFiles } from '../../scripts/deploy-crds.js';
import { renderCustomResourceDefinitions } from '../../src/deploy/custom-resource-definitions.js';
import { renderWebhookConfigurations, type WebhookConfiguration } from '../../src/deploy/webhook-configurations.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type Json = Record<string, unknown>;

async function readObjects(file: string): Promise<Json[]> {
  const text = await readFile(path.join(ROOT, file), 'utf8');
  return parseAllDocuments(text).map((document) => {
    assert.deepEqual(document.errors, [], file);
    return document.toJS() as Json;
  });
}

/** Follows a path of keys and indexes through plain JSON. */
function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

describe('deploy/: policy copies', () => {
  it('are up to date with policies/ (run `npm run deploy:policies` when this fails)', async () => {
    assert.deepEqual(await staleDeployFiles(ROOT), [], 'stale copies: run `npm run deploy:policies`');
  });

  it('load as the same policies, in the same order, from the flat ConfigMap folders', async () => {
    const original = await loadPolicySet([path.join(ROOT, 'policies')]);
    const copies = await planPolicyCopies(ROOT);
    for (const dir of [KUSTOMIZE_POLICIES_DIR, HELM_POLICIES_DIR]) {
      // The files the ConfigMap holds (not the kustomization.yaml beside them).
      const copied = await loadPolicySet(copies.map((copy) => path.join(ROOT, dir, copy.key)));
      assert.deepEqual(copied.policies.map((p) => p.name), original.policies.map((p) => p.name), dir);
    }
    assert.ok(copies.some((copy) => copy.key === 'security.capabilities.yaml' && copy.source === 'policies/security/capabilities.yaml'));
    for (const copy of copies) assert.match(copy.key, /^[-._a-zA-Z0-9]+$/);
  });
});

describe('deploy/base', () => {
  it('has the webhook configurations `daemonguard manifests` renders, without a caBundle', async () => {
    const written = (await readObjects('deploy/base/webhooks.yaml')) as unknown as WebhookConfiguration[];
    const rendered = renderWebhookConfigurations({
      client: { service: { name: 'daemonguard', namespace: 'daemonguard-system' } },
      labels: { 'app.kubernetes.io/name': 'daemonguard', 'app.kubernetes.io/component': 'webhook' },
    });
    assert.deepEqual(written, JSON.parse(JSON.stringify(rendered)));
  });

  it('runs the server as a non-root, read-only, capability-free pod, probed over plain HTTP on the probe port', async () => {
    const [deployment] = await readObjects('deploy/base/deployment.yaml');
    const pod = at(deployment, 'spec', 'template', 'spec') as Json;
    assert.equal(at(deployment, 'spec', 'replicas'), 2);
    assert.equal(pod.priorityClassName, 'system-cluster-critical');
    assert.equal(pod.serviceAccountName, 'daemonguard');
    assert.equal(at(pod, 'securityContext', 'runAsNonRoot'), true);
    assert.equal(at(pod, 'securityContext', 'seccompProfile', 'type'), 'RuntimeDefault');
    assert.equal(at(pod, 'affinity', 'podAntiAffinity', 'preferredDuringSchedulingIgnoredDuringExecution', 0, 'podAffinityTerm', 'topologyKey'), 'kubernetes.io/hostname');
    const container = at(pod, 'containers', 0) as Json;
    assert.deepEqual(at(container, 'securityContext'), {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    // Never the admission port: with client certificates required there, the kubelet (which has none) would fail them.
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      assert.equal(at(container, probe, 'httpGet', 'scheme'), 'HTTP', probe);
      assert.equal(at(container, probe, 'httpGet', 'port'), 'probes', probe);
    }
    assert.deepEqual(container.ports, [
      { name: 'https', containerPort: 8443, protocol: 'TCP' },
      { name: 'probes', containerPort: 8081, protocol: 'TCP' },
    ]);
    assert.equal(at(container, 'readinessProbe', 'httpGet', 'path'), '/readyz');
    assert.equal(at(container, 'livenessProbe', 'httpGet', 'path'), '/healthz');
    for (const kind of ['requests', 'limits']) {
      assert.ok(at(container, 'resources', kind, 'cpu'), `${kind}.cpu`);
      assert.ok(at(container, 'resources', kind, 'memory'), `${kind}.memory`);
    }
    assert.equal(at(container, 'args', 0), 'serve');
    const args = container.args as string[];
    assert.ok(args.includes('--tls-cert=/etc/daemonguard/tls/tls.crt'));
    assert.ok(args.includes('--port=8443'));
    assert.ok(args.includes('--probe-address=:8081'), 'probes on every address of the pod, on the port the probes use');
    assert.ok(args.includes('--policies=/etc/daemonguard/policies'));
    assert.ok(args.includes('--namespaces-from-cluster'), 'namespaceSelector policies need the namespaces');
    assert.ok(args.includes('--nodes-from-cluster'), 'policies that read coverage need the nodes');
    assert.equal(at(pod, 'volumes', 0, 'secret', 'secretName'), 'daemonguard-tls');
    assert.equal(at(pod, 'volumes', 1, 'configMap', 'name'), 'daemonguard-policies');

    const [service, metricsService] = await readObjects('deploy/base/service.yaml');
    // The webhook's Service leads to the reviews only; metrics have a Service of their own.
    assert.deepEqual(at(service, 'spec', 'ports'), [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    assert.deepEqual(at(service, 'spec', 'selector'), at(deployment, 'spec', 'selector', 'matchLabels'));
    assert.equal(at(metricsService, 'metadata', 'name'), 'daemonguard-metrics');
    assert.deepEqual(at(metricsService, 'spec', 'ports'), [{ name: 'metrics', port: 8081, targetPort: 'probes', protocol: 'TCP' }]);
    assert.deepEqual(at(metricsService, 'spec', 'selector'), at(deployment, 'spec', 'selector', 'matchLabels'));
    assert.equal(at(deployment, 'spec', 'template', 'metadata', 'annotations', 'prometheus.io/port'), '8081');
  });

  it('grants reading namespaces, nodes and policies, patching policy status, and the leader Lease in its namespace; nothing else', async () => {
    const objects = await readObjects('deploy/base/rbac.yaml');
    const clusterRole = objects.find((object) => object.kind === 'ClusterRole');
    assert.deepEqual(clusterRole?.rules, [
      { apiGroups: [''], resources: ['namespaces', 'nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['daemonguard.dev'], resources: ['daemonsetpolicies', 'daemonsetpolicyexceptions'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['daemonguard.dev'], resources: ['daemonsetpolicies/status', 'daemonsetpolicyexceptions/status'], verbs: ['patch'] },
    ]);
    const role = objects.find((object) => object.kind === 'Role');
    assert.deepEqual(role?.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
    ]);
    assert.equal(objects.filter((object) => object.kind === 'Role' || object.kind === 'ClusterRole').length, 2);
  });
});

describe('deploy/components/client-ca', () => {
  it('adds --client-ca to the server and mounts the CA from its generated ConfigMap, leaving the probes alone', async () => {
    const [component] = await readObjects('deploy/components/client-ca/kustomization.yaml');
    assert.equal(component?.kind, 'Component');
    assert.deepEqual(at(component, 'configMapGenerator', 0, 'files'), ['ca.crt=client-ca.crt']);
    const operations = parseAllDocuments(at(component, 'patches', 0, 'patch') as string)[0]?.toJS() as Json[];
    assert.deepEqual(operations.map((operation) => [operation.op, operation.path]), [
      ['add', '/spec/template/spec/containers/0/args/-'],
      ['add', '/spec/template/spec/containers/0/volumeMounts/-'],
      ['add', '/spec/template/spec/volumes/-'],
    ]);
    assert.equal(operations[0]?.value, '--client-ca=/etc/daemonguard/client-ca/ca.crt');
    assert.equal(at(operations[1]?.value, 'mountPath'), '/etc/daemonguard/client-ca');
    assert.equal(at(operations[2]?.value, 'configMap', 'name'), at(component, 'configMapGenerator', 0, 'name'));
  });
});

describe('deploy/overlays/cert-manager', () => {
  it('issues the serving certificate for every name of the Service, into the Secret the pods mount', async () => {
    const objects = await readObjects('deploy/overlays/cert-manager/certificates.yaml');
    const serving = objects.find((object) => object.kind === 'Certificate' && at(object, 'metadata', 'name') === 'daemonguard-serving');
    assert.deepEqual(at(serving, 'spec', 'dnsNames'), servingNamesForService('daemonguard', 'daemonguard-system').dnsNames);
    assert.equal(at(serving, 'spec', 'secretName'), 'daemonguard-tls');
    assert.equal(at(serving, 'spec', 'issuerRef', 'name'), 'daemonguard-ca');
    const kustomization = await readFile(path.join(ROOT, 'deploy/overlays/cert-manager/kustomization.yaml'), 'utf8');
    assert.match(kustomization, /cert-manager\.io\/inject-ca-from: daemonguard-system\/daemonguard-serving/);
  });
});

describe('deploy/: CustomResourceDefinitions', () => {
  it('are what src/deploy renders from schema/ (run `npm run deploy:crds` when this fails)', async () => {
    assert.deepEqual(await staleCrdFiles(ROOT), [], 'stale CRDs: run `npm run deploy:crds`');
  });

  it('are installed by the kustomize base and shipped in the Helm chart’s crds/', async () => {
    const kustomization = (await readObjects('deploy/base/kustomization.yaml'))[0]!;
    assert.ok((kustomization.resources as string[]).includes('crds'));
    for (const crd of renderCustomResourceDefinitions()) {
      const [helm] = await readObjects(`${HELM_CRDS_DIR}/${crd.metadata.name}.yaml`);
      assert.deepEqual(helm, crd);
    }
  });
});

describe('deploy/components/policies-from-cluster', () => {
  it('replaces the base’s --policies argument (the one its test operation names) with --policies-from-cluster, and the pod knows its name for the Lease', async () => {
    const [component] = await readObjects('deploy/components/policies-from-cluster/kustomization.yaml');
    const operations = parseAllDocuments(at(component, 'patches', 0, 'patch') as string)[0]!.toJS() as { op: string; path: string; value: string }[];
    const [deployment] = await readObjects('deploy/base/deployment.yaml');
    const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0) as Json;
    const index = Number(operations[0]!.path.split('/').at(-1));
    assert.equal(operations[0]!.op, 'test');
    assert.equal(at(container, 'args', index), operations[0]!.value);
    assert.deepEqual(operations[1], { op: 'replace', path: operations[0]!.path, value: '--policies-from-cluster' });
    const env = at(container, 'env') as { name: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
    assert.equal(env.find((entry) => entry.name === 'POD_NAME')?.valueFrom?.fieldRef.fieldPath, 'metadata.name');
    assert.equal(env.find((entry) => entry.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef.fieldPath, 'metadata.namespace');
  });
});

describe('deploy/components/audit', () => {
  it('grants listing DaemonSets and writing Reports to the service account (the base grants neither), and turns on --audit-interval', async () => {
    const [component] = await readObjects('deploy/components/audit/kustomization.yaml');
    assert.equal(component?.kind, 'Component');
    assert.deepEqual(component?.resources, ['rbac.yaml']);
    const objects = await readObjects('deploy/components/audit/rbac.yaml');
    const clusterRole = objects.find((object) => object.kind === 'ClusterRole');
    assert.deepEqual(clusterRole?.rules, [
      { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['list', 'watch'] },
      { apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    ]);
    const binding = objects.find((object) => object.kind === 'ClusterRoleBinding');
    assert.equal(at(binding, 'roleRef', 'name'), at(clusterRole, 'metadata', 'name'));
    const base = await readObjects('deploy/base/rbac.yaml');
    assert.deepEqual(at(binding, 'subjects'), at(base.find((object) => object.kind === 'ClusterRoleBinding'), 'subjects'));
    const operations = parseAllDocuments(at(component, 'patches', 0, 'patch') as string)[0]!.toJS() as { op: string; path: string; value: string }[];
    assert.deepEqual(operations, [{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--audit-interval=5m' }]);
  });
});

describe('deploy/components/native-params', () => {
  it('grants list and watch on ConfigMaps only (the base grants neither), and turns on --native-params-from-cluster', async () => {
    const [component] = await readObjects('deploy/components/native-params/kustomization.yaml');
    assert.equal(component?.kind, 'Component');
    assert.deepEqual(component?.resources, ['rbac.yaml']);
    const objects = await readObjects('deploy/components/native-params/rbac.yaml');
    const clusterRole = objects.find((object) => object.kind === 'ClusterRole');
    assert.deepEqual(clusterRole?.rules, [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] }]);
    const binding = objects.find((object) => object.kind === 'ClusterRoleBinding');
    assert.equal(at(binding, 'roleRef', 'name'), at(clusterRole, 'metadata', 'name'));
    const base = await readObjects('deploy/base/rbac.yaml');
    assert.deepEqual(at(binding, 'subjects'), at(base.find((object) => object.kind === 'ClusterRoleBinding'), 'subjects'));
    const baseRules = base.filter((object) => object.kind === 'ClusterRole').flatMap((role) => (role.rules ?? []) as { resources?: string[] }[]);
    assert.ok(!baseRules.some((rule) => rule.resources?.includes('configmaps')), 'the base ClusterRole must not already read ConfigMaps cluster-wide');
    const operations = parseAllDocuments(at(component, 'patches', 0, 'patch') as string)[0]!.toJS() as { op: string; path: string; value: string }[];
    assert.deepEqual(operations, [{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--native-params-from-cluster' }]);
  });
});
