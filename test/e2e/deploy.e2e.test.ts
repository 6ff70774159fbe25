// deploy/ against the real tools and a real kube-apiserver: `kustomize build` of the base and both
// overlays and `helm template` of the chart succeed and render the objects the issue asks for
// (webhook rules, selectors that exclude daemonguard's own namespace, the pod's security context, a
// policies ConfigMap that loads); the kube-apiserver accepts every rendering (server-side dry-run,
// strict field validation, no Pod Security warnings); and, installed for real with no daemonguard
// pod running, the webhooks refuse DaemonSets only where they should, with the documented ways out.
//
// cert-manager is not installed: minimal Issuer and Certificate CRDs (testdata/cert-manager-crds.yaml)
// stand in, so the cert-manager objects are created and field-checked too, but nothing issues them.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { renderWebhookConfigurations, type Webhook } from '../../src/deploy/webhook-configurations.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { at, daemonguard, daemonSet, eventually, find, helmTemplate, kustomizeBuild, parseObjects, REPO_ROOT, type K8sObject } from './deploy-tools.js';

const NAMESPACE = 'daemonguard-system';
const HELM_NAMESPACE = 'guard';
const HELM_RELEASE = 'dg';
const HELM_FULLNAME = 'dg-daemonguard';

/** The webhooks daemonguard's renderer makes for a Service, as plain JSON. */
function expectedWebhooks(service: string, namespace: string, caBundle?: string): Webhook[][] {
  return JSON.parse(
    JSON.stringify(
      renderWebhookConfigurations({ client: { service: { name: service, namespace } }, namespace, ...(caBundle === undefined ? {} : { caBundle }) }).map(
        (configuration) => configuration.webhooks,
      ),
    ),
  ) as Webhook[][];
}

/** Webhooks as rendered, with a caBundle folded over lines (kustomize) joined again. */
function webhooksOf(objects: readonly K8sObject[]): Webhook[][] {
  return ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'].map((kind) => {
    const webhooks = structuredClone(find(objects, kind).webhooks as Webhook[]);
    for (const webhook of webhooks) {
      if (typeof webhook.clientConfig.caBundle === 'string') webhook.clientConfig.caBundle = webhook.clientConfig.caBundle.replace(/\s+/g, '');
    }
    return webhooks;
  });
}

function checkPod(deployment: K8sObject, secretName: string): void {
  assert.equal(at(deployment, 'spec', 'replicas'), 2);
  const pod = at(deployment, 'spec', 'template', 'spec');
  assert.equal(at(pod, 'priorityClassName'), 'system-cluster-critical');
  assert.deepEqual(at(pod, 'securityContext'), { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  assert.equal(at(pod, 'affinity', 'podAntiAffinity', 'preferredDuringSchedulingIgnoredDuringExecution', 0, 'podAffinityTerm', 'topologyKey'), 'kubernetes.io/hostname');
  const container = at(pod, 'containers', 0);
  assert.deepEqual(at(container, 'securityContext'), {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  });
  // The probes use the plain-HTTP probe port, never the admission port (which may require client certificates).
  assert.deepEqual(at(container, 'startupProbe', 'httpGet'), { path: '/healthz', port: 'probes', scheme: 'HTTP' });
  assert.deepEqual(at(container, 'readinessProbe', 'httpGet'), { path: '/readyz', port: 'probes', scheme: 'HTTP' });
  assert.deepEqual(at(container, 'livenessProbe', 'httpGet'), { path: '/healthz', port: 'probes', scheme: 'HTTP' });
  assert.deepEqual(at(container, 'ports'), [
    { name: 'https', containerPort: 8443, protocol: 'TCP' },
    { name: 'probes', containerPort: 8081, protocol: 'TCP' },
  ]);
  const args = at(container, 'args') as string[];
  assert.ok(args.includes('--probe-address=:8081'), args.join(' '));
  assert.deepEqual(at(container, 'resources'), { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
  assert.equal(at(pod, 'volumes', 0, 'secret', 'secretName'), secretName);
  assert.equal(at(pod, 'volumes', 0, 'secret', 'defaultMode'), 0o440);
}

/** Writes the ConfigMap's files to a folder and loads them as the server would. */
async function loadConfigMapPolicies(configMap: K8sObject): Promise<Awaited<ReturnType<typeof loadPolicySet>>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-configmap-'));
  const data = configMap.data as Record<string, string>;
  for (const [key, content] of Object.entries(data)) await writeFile(path.join(dir, key), content);
  return loadPolicySet([dir]);
}

/** Client certificates required: --client-ca names the file mounted from the ConfigMap that holds the CA given. */
function checkClientCa(objects: readonly K8sObject[], name: string, caPem: string): void {
  const deployment = find(objects, 'Deployment', name);
  const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0);
  assert.ok((at(container, 'args') as string[]).includes('--client-ca=/etc/daemonguard/client-ca/ca.crt'));
  const mounts = at(container, 'volumeMounts') as { name: string; mountPath: string }[];
  const mount = mounts.find((entry) => entry.mountPath === '/etc/daemonguard/client-ca');
  const volumes = at(deployment, 'spec', 'template', 'spec', 'volumes') as { name: string; configMap?: { name: string } }[];
  const configMapName = volumes.find((volume) => volume.name === mount?.name)?.configMap?.name;
  assert.ok(configMapName !== undefined, 'the client CA is mounted from a ConfigMap');
  assert.equal(at(find(objects, 'ConfigMap', configMapName), 'data', 'ca.crt')?.toString().trim(), caPem.trim());
}

function checkPdbAndService(objects: readonly K8sObject[], name: string): void {
  const deployment = find(objects, 'Deployment', name);
  const selector = at(deployment, 'spec', 'selector', 'matchLabels');
  assert.deepEqual(at(find(objects, 'Service', name), 'spec', 'selector'), selector);
  assert.deepEqual(at(find(objects, 'Service', name), 'spec', 'ports'), [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
  const metrics = find(objects, 'Service', `${name}-metrics`);
  assert.deepEqual(at(metrics, 'spec', 'selector'), selector);
  assert.deepEqual(at(metrics, 'spec', 'ports'), [{ name: 'metrics', port: 8081, targetPort: 'probes', protocol: 'TCP' }]);
  assert.deepEqual(at(find(objects, 'PodDisruptionBudget', name), 'spec', 'selector', 'matchLabels'), selector);
  assert.equal(at(find(objects, 'PodDisruptionBudget', name), 'spec', 'maxUnavailable'), 1);
  assert.deepEqual(at(find(objects, 'ClusterRole', name), 'rules'), [
    { apiGroups: [''], resources: ['namespaces', 'nodes'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['daemonguard.dev'], resources: ['daemonsetpolicies', 'daemonsetpolicyexceptions'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['daemonguard.dev'], resources: ['daemonsetpolicies/status', 'daemonsetpolicyexceptions/status'], verbs: ['patch'] },
  ]);
  assert.deepEqual(at(find(objects, 'Role', `${name}-leader-election`), 'rules'), [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
  ]);
}

describe('deploy/ with kustomize, helm and a real kube-apiserver', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let work: string;
  const rendered = new Map<string, string>();

  /**
   * An overlay deploy/overlays/<name> of the self-signed overlay with deploy/components/<components>,
   * as a user would write it: built, kept for the server-side dry-run under "self-signed + ...", and
   * its Deployment checked like every rendering's.
   */
  async function buildSelfSignedWith(name: string, components: readonly string[]): Promise<K8sObject[]> {
    const overlay = path.join(work, 'deploy/overlays', name);
    await mkdir(overlay, { recursive: true });
    await writeFile(
      path.join(overlay, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../self-signed\ncomponents:\n${components.map((component) => `  - ../../components/${component}\n`).join('')}`,
    );
    const yaml = await kustomizeBuild(overlay);
    rendered.set(['self-signed', ...components].join(' + '), yaml);
    const objects = parseObjects(yaml);
    checkPod(find(objects, 'Deployment', 'daemonguard'), 'daemonguard-tls');
    return objects;
  }

  before(async () => {
    cluster = await startCluster();
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-deploy-e2e-'));
    // A copy of deploy/, so the certificates of the self-signed overlay never land in the working tree.
    await cp(path.join(REPO_ROOT, 'deploy'), path.join(work, 'deploy'), { recursive: true });
    await cluster.kubectl(['apply', '-f', path.join(REPO_ROOT, 'test/e2e/testdata/cert-manager-crds.yaml')]);
    await cluster.kubectl(['wait', '--for=condition=Established', 'crd/issuers.cert-manager.io', 'crd/certificates.cert-manager.io', '--timeout=30s']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('kustomize build deploy/base: webhooks, own-namespace exclusion, a locked-down pod, the policy library', async () => {
    const yaml = await kustomizeBuild(path.join(work, 'deploy/base'));
    rendered.set('base', yaml);
    const objects = parseObjects(yaml);
    assert.deepEqual(
      objects.map((o) => o.kind).sort(),
      [
        'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'MutatingWebhookConfiguration', 'Namespace',
        'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration',
      ],
    );
    for (const object of objects) {
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'].includes(object.kind);
      assert.equal(object.metadata.namespace, clusterScoped ? undefined : NAMESPACE, `${object.kind}/${object.metadata.name}`);
    }
    assert.deepEqual(webhooksOf(objects), expectedWebhooks('daemonguard', NAMESPACE));
    const [validating] = webhooksOf(objects);
    assert.deepEqual(validating?.[0]?.namespaceSelector.matchExpressions[0], { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NAMESPACE, 'kube-system'] });

    const deployment = find(objects, 'Deployment', 'daemonguard');
    checkPod(deployment, 'daemonguard-tls');
    checkPdbAndService(objects, 'daemonguard');
    // The ConfigMap's generated name (content hash) is what the Deployment mounts.
    const configMap = find(objects, 'ConfigMap');
    assert.match(configMap.metadata.name, /^daemonguard-policies-[a-z0-9]{10}$/);
    assert.equal(at(deployment, 'spec', 'template', 'spec', 'volumes', 1, 'configMap', 'name'), configMap.metadata.name);
    const policies = await loadConfigMapPolicies(configMap);
    const library = await loadPolicySet([path.join(REPO_ROOT, 'policies')]);
    assert.deepEqual(policies.policies.map((p) => p.name), library.policies.map((p) => p.name));
  });

  it('kustomize build deploy/overlays/cert-manager: Issuers, Certificates, cainjector annotations', async () => {
    const yaml = await kustomizeBuild(path.join(work, 'deploy/overlays/cert-manager'));
    rendered.set('cert-manager', yaml);
    const objects = parseObjects(yaml);
    const serving = find(objects, 'Certificate', 'daemonguard-serving');
    assert.deepEqual(at(serving, 'spec', 'dnsNames'), [
      'daemonguard',
      'daemonguard.daemonguard-system',
      'daemonguard.daemonguard-system.svc',
      'daemonguard.daemonguard-system.svc.cluster.local',
    ]);
    assert.equal(at(serving, 'spec', 'secretName'), 'daemonguard-tls');
    assert.equal(serving.metadata.namespace, NAMESPACE);
    assert.equal(at(find(objects, 'Certificate', 'daemonguard-ca'), 'spec', 'isCA'), true);
    assert.equal(at(find(objects, 'Issuer', 'daemonguard-ca'), 'spec', 'ca', 'secretName'), 'daemonguard-ca');
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      assert.deepEqual(find(objects, kind).metadata.annotations, { 'cert-manager.io/inject-ca-from': 'daemonguard-system/daemonguard-serving' });
    }
    assert.deepEqual(webhooksOf(objects), expectedWebhooks('daemonguard', NAMESPACE));
    checkPod(find(objects, 'Deployment', 'daemonguard'), 'daemonguard-tls');
  });

  it('kustomize build deploy/overlays/self-signed: the Secret and caBundle from `daemonguard certs`', async () => {
    const certs = path.join(work, 'deploy/overlays/self-signed/certs');
    const created = await daemonguard(['certs', '--dir', certs]);
    assert.equal(created.code, 0, created.stderr);
    const yaml = await kustomizeBuild(path.join(work, 'deploy/overlays/self-signed'));
    rendered.set('self-signed', yaml);
    const objects = parseObjects(yaml);
    const secret = find(objects, 'Secret', 'daemonguard-tls');
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.equal(secret.metadata.namespace, NAMESPACE);
    const data = secret.data as Record<string, string>;
    const decoded = (key: string): string => Buffer.from(data[key] ?? '', 'base64').toString('utf8');
    assert.equal(decoded('tls.crt'), await readFile(path.join(certs, 'tls.crt'), 'utf8'));
    assert.equal(decoded('tls.key'), await readFile(path.join(certs, 'tls.key'), 'utf8'));
    assert.equal(decoded('ca.crt'), await readFile(path.join(certs, 'ca-bundle.crt'), 'utf8'));
    assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'ca.key stays out of the cluster');
    assert.deepEqual(webhooksOf(objects), expectedWebhooks('daemonguard', NAMESPACE, created.stdout.trim()));
    checkPod(find(objects, 'Deployment', 'daemonguard'), 'daemonguard-tls');
  });

  it('kustomize build with deploy/components/client-ca: client certificates required, probes unchanged', async () => {
    const caPem = await readFile(path.join(work, 'deploy/overlays/self-signed/certs/ca.crt'), 'utf8');
    await writeFile(path.join(work, 'deploy/components/client-ca/client-ca.crt'), caPem);
    const objects = await buildSelfSignedWith('client-ca', ['client-ca']);
    checkPdbAndService(objects, 'daemonguard');
    checkClientCa(objects, 'daemonguard', caPem);
    const clientCa = objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name.startsWith('daemonguard-client-ca-'));
    assert.equal(clientCa?.metadata.namespace, NAMESPACE);
  });

  it('kustomize build with deploy/components/policies-from-cluster and audit: the audit’s ClusterRole bound to the service account, --audit-interval on', async () => {
    const objects = await buildSelfSignedWith('audit', ['policies-from-cluster', 'audit']);
    const args = at(find(objects, 'Deployment', 'daemonguard'), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    assert.ok(args.includes('--policies-from-cluster') && args.includes('--audit-interval=5m'), args.join(' '));
    assert.deepEqual(at(find(objects, 'ClusterRoleBinding', 'daemonguard-audit'), 'subjects'), [{ kind: 'ServiceAccount', name: 'daemonguard', namespace: NAMESPACE }]);
    assert.deepEqual(at(find(objects, 'ClusterRole', 'daemonguard-audit'), 'rules', 0, 'resources'), ['daemonsets']);
  });

  it('helm template: the same objects in the release namespace, both certificate modes, the Warn-first override', async () => {
    const chart = path.join(REPO_ROOT, 'deploy/helm/daemonguard');
    const yaml = await helmTemplate([HELM_RELEASE, chart, '--namespace', HELM_NAMESPACE]);
    rendered.set('helm cert-manager', yaml);
    const objects = parseObjects(yaml);
    assert.deepEqual(webhooksOf(objects), expectedWebhooks(HELM_FULLNAME, HELM_NAMESPACE));
    assert.deepEqual(find(objects, 'ValidatingWebhookConfiguration').metadata.annotations, { 'cert-manager.io/inject-ca-from': `${HELM_NAMESPACE}/${HELM_FULLNAME}-serving` });
    assert.deepEqual(at(find(objects, 'Certificate', `${HELM_FULLNAME}-serving`), 'spec', 'dnsNames'), [
      HELM_FULLNAME,
      `${HELM_FULLNAME}.${HELM_NAMESPACE}`,
      `${HELM_FULLNAME}.${HELM_NAMESPACE}.svc`,
      `${HELM_FULLNAME}.${HELM_NAMESPACE}.svc.cluster.local`,
    ]);
    checkPod(find(objects, 'Deployment', HELM_FULLNAME), `${HELM_FULLNAME}-tls`);
    checkPdbAndService(objects, HELM_FULLNAME);
    const library = await loadPolicySet([path.join(REPO_ROOT, 'policies')]);
    const policies = await loadConfigMapPolicies(find(objects, 'ConfigMap', `${HELM_FULLNAME}-policies`));
    assert.deepEqual(policies.policies.map((p) => p.name), library.policies.map((p) => p.name));

    // provided certificates (from `daemonguard certs`), a Warn-only rollout, one policy left out.
    const certs = path.join(work, 'helm-certs');
    const created = await daemonguard(['certs', '--dir', certs, '--service', HELM_FULLNAME, '--namespace', HELM_NAMESPACE]);
    assert.equal(created.code, 0, created.stderr);
    const provided = await helmTemplate([
      HELM_RELEASE,
      chart,
      '--namespace',
      HELM_NAMESPACE,
      '--set',
      'certificates.mode=provided,policies.validationActions=Warn,webhook.excludeNamespaces={monitoring}',
      '--set',
      'policies.exclude={pod-security.pod-security-restricted.yaml}',
      '--set-file',
      `certificates.provided.cert=${certs}/tls.crt,certificates.provided.key=${certs}/tls.key,certificates.provided.caBundle=${certs}/ca-bundle.crt`,
    ]);
    rendered.set('helm provided', provided);
    const providedObjects = parseObjects(provided);
    assert.equal(providedObjects.filter((o) => o.apiVersion.startsWith('cert-manager.io/')).length, 0);
    assert.equal(find(providedObjects, 'ValidatingWebhookConfiguration').metadata.annotations, undefined);
    const caBundle = created.stdout.trim();
    const expected = JSON.parse(
      JSON.stringify(
        renderWebhookConfigurations({
          client: { service: { name: HELM_FULLNAME, namespace: HELM_NAMESPACE } },
          namespace: HELM_NAMESPACE,
          caBundle,
          excludeNamespaces: ['monitoring'],
        }).map((c) => c.webhooks),
      ),
    ) as Webhook[][];
    assert.deepEqual(webhooksOf(providedObjects), expected);
    const secret = find(providedObjects, 'Secret', `${HELM_FULLNAME}-tls`);
    assert.equal(Buffer.from(at(secret, 'data', 'tls.crt') as string, 'base64').toString('utf8'), await readFile(path.join(certs, 'tls.crt'), 'utf8'));
    const warned = await loadConfigMapPolicies(find(providedObjects, 'ConfigMap', `${HELM_FULLNAME}-policies`));
    assert.deepEqual(
      warned.policies.map((p) => p.name),
      library.policies.map((p) => p.name).filter((name) => name !== 'pod-security-restricted'),
    );
    for (const policy of warned.validatingPolicies) assert.deepEqual(policy.validationActions, ['Warn'], policy.name);

    // Client certificates required, with the CA given as PEM.
    const clientAuth = await helmTemplate([HELM_RELEASE, chart, '--namespace', HELM_NAMESPACE, '--set-file', `clientAuth.caBundle=${certs}/ca.crt`]);
    rendered.set('helm client-ca', clientAuth);
    const clientAuthObjects = parseObjects(clientAuth);
    checkPod(find(clientAuthObjects, 'Deployment', HELM_FULLNAME), `${HELM_FULLNAME}-tls`);
    checkPdbAndService(clientAuthObjects, HELM_FULLNAME);
    checkClientCa(clientAuthObjects, HELM_FULLNAME, await readFile(path.join(certs, 'ca.crt'), 'utf8'));
    assert.ok(!(at(find(objects, 'Deployment', HELM_FULLNAME), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[]).some((arg) => arg.startsWith('--client-ca')));

    // audit.enabled: the kustomize component's rules and argument; the default grants neither.
    const audit = await helmTemplate([HELM_RELEASE, chart, '--namespace', HELM_NAMESPACE, '--set', 'audit.enabled=true']);
    rendered.set('helm audit', audit);
    const auditObjects = parseObjects(audit);
    const component = parseObjects(await readFile(path.join(REPO_ROOT, 'deploy/components/audit/rbac.yaml'), 'utf8'));
    assert.deepEqual(at(find(auditObjects, 'ClusterRole', `${HELM_FULLNAME}-audit`), 'rules'), at(find(component, 'ClusterRole', 'daemonguard-audit'), 'rules'));
    assert.equal(at(find(auditObjects, 'ClusterRoleBinding', `${HELM_FULLNAME}-audit`), 'subjects', 0, 'namespace'), HELM_NAMESPACE);
    const auditArgs = at(find(auditObjects, 'Deployment', HELM_FULLNAME), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    assert.ok(auditArgs.includes('--audit-interval=5m'), auditArgs.join(' '));
    assert.ok(!objects.some((object) => object.metadata.name === `${HELM_FULLNAME}-audit`));
    assert.ok(!(at(find(objects, 'Deployment', HELM_FULLNAME), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[]).some((arg) => arg.startsWith('--audit-interval')));

    // nativeParams.enabled: the native-params component's rules (ConfigMaps, list and watch only) and
    // argument; the default grants neither.
    const nativeParams = await helmTemplate([HELM_RELEASE, chart, '--namespace', HELM_NAMESPACE, '--set', 'nativeParams.enabled=true']);
    rendered.set('helm native-params', nativeParams);
    const nativeObjects = parseObjects(nativeParams);
    const nativeComponent = parseObjects(await readFile(path.join(REPO_ROOT, 'deploy/components/native-params/rbac.yaml'), 'utf8'));
    assert.deepEqual(at(find(nativeObjects, 'ClusterRole', `${HELM_FULLNAME}-native-params`), 'rules'), at(find(nativeComponent, 'ClusterRole', 'daemonguard-native-params'), 'rules'));
    assert.deepEqual(at(find(nativeObjects, 'ClusterRoleBinding', `${HELM_FULLNAME}-native-params`), 'roleRef', 'name'), `${HELM_FULLNAME}-native-params`);
    assert.deepEqual(at(find(nativeObjects, 'ClusterRoleBinding', `${HELM_FULLNAME}-native-params`), 'subjects'), [
      { kind: 'ServiceAccount', name: HELM_FULLNAME, namespace: HELM_NAMESPACE },
    ]);
    const nativeArgs = at(find(nativeObjects, 'Deployment', HELM_FULLNAME), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    assert.equal(nativeArgs.filter((arg) => arg === '--native-params-from-cluster').length, 1, nativeArgs.join(' '));
    assert.ok(!objects.some((object) => object.metadata.name === `${HELM_FULLNAME}-native-params`));
    assert.ok(!(at(find(objects, 'Deployment', HELM_FULLNAME), 'spec', 'template', 'spec', 'containers', 0, 'args') as string[]).includes('--native-params-from-cluster'));
    const defaultRules = objects.filter((object) => object.kind === 'ClusterRole').flatMap((role) => (at(role, 'rules') ?? []) as { resources?: string[] }[]);
    assert.ok(!defaultRules.some((rule) => rule.resources?.includes('configmaps')), 'the default chart must not read ConfigMaps cluster-wide');
  });

  it('every rendering is accepted by the kube-apiserver: server-side dry-run, strict fields, no Pod Security warnings', async () => {
    assert.equal(rendered.size, 10, 'the rendering tests ran first');
    await cluster.kubectl(['create', 'namespace', HELM_NAMESPACE]);
    await cluster.kubectl(['label', 'namespace', HELM_NAMESPACE, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
    for (const [name, yaml] of rendered) {
      // Namespaces for real (a dry-run cannot create objects in a namespace that does not exist yet).
      const namespaces = parseObjects(yaml).filter((o) => o.kind === 'Namespace');
      if (namespaces.length > 0) await cluster.kubectl(['apply', '--server-side', '--field-manager=daemonguard-e2e', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }) });
      const result = await cluster.kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=daemonguard-e2e', '-f', '-'], { input: yaml, allowFailure: true });
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /warning/i, `${name}: ${result.stderr}`);
      assert.match(result.stdout, /validatingwebhookconfiguration\.admissionregistration\.k8s\.io\/\S+ serverside-applied \(server dry run\)/, name);
      assert.match(result.stdout, /deployment\.apps\/\S+ serverside-applied \(server dry run\)/, name);
    }
  });

  it('installed with no daemonguard running: refuses DaemonSets where it fails closed, lets the rest and every way out through', async () => {
    await cluster.kubectl(['apply', '--server-side', '--field-manager=daemonguard-e2e', '-f', '-'], { input: rendered.get('self-signed') ?? '' });
    // The caBundle the apiserver stores is the bundle `daemonguard certs` wrote.
    const stored = JSON.parse((await cluster.kubectl(['get', 'validatingwebhookconfiguration', 'daemonguard', '-o', 'json'])).stdout) as { webhooks: Webhook[] };
    const bundle = await readFile(path.join(work, 'deploy/overlays/self-signed/certs/ca-bundle.crt'), 'utf8');
    for (const webhook of stored.webhooks) assert.equal(Buffer.from(webhook.clientConfig.caBundle ?? '', 'base64').toString('utf8'), bundle);

    await cluster.kubectl(['create', 'namespace', 'team']);
    const create = (name: string, namespace: string, options: { finalizers?: string[] } = {}) =>
      cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(daemonSet(name, namespace, options)), allowFailure: true, timeoutMs: 90_000 });

    // The webhooks reach the apiserver's admission chain within moments of being created.
    let refused = '';
    await eventually('the validating webhook to refuse while daemonguard is down', async () => {
      const result = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet('probe', 'team')), allowFailure: true, timeoutMs: 90_000 });
      refused = result.stderr;
      return result.code !== 0;
    }, 60_000);
    assert.match(refused, /failed calling webhook "validate\.daemonguard\.dev"/);

    // Fails open in kube-system, never called in daemonguard-system.
    const kubeSystem = await create('cni-agent', 'kube-system');
    assert.equal(kubeSystem.code, 0, kubeSystem.stderr);
    const own = await create('own', NAMESPACE);
    assert.equal(own.code, 0, own.stderr);

    // The documented way out: label the namespace, and back.
    await cluster.kubectl(['label', 'namespace', 'team', 'daemonguard.dev/ignore=true']);
    const ignored = await create('agent', 'team', { finalizers: ['example.com/hold'] });
    assert.equal(ignored.code, 0, ignored.stderr);
    await cluster.kubectl(['label', 'namespace', 'team', 'daemonguard.dev/ignore-']);
    const again = await create('agent-2', 'team');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /failed calling webhook "validate\.daemonguard\.dev"/);
    const update = await cluster.kubectl(['label', 'daemonset', 'agent', '-n', 'team', 'touched=yes'], { allowFailure: true, timeoutMs: 90_000 });
    assert.notEqual(update.code, 0, 'an UPDATE is refused as well while daemonguard is down');

    // Deleting is never blocked: DELETE is not sent, and removing the last finalizer from an object
    // being deleted is skipped by the webhooks' matchConditions.
    await cluster.kubectl(['delete', 'daemonset', 'agent', '-n', 'team', '--wait=false']);
    const release = await cluster.kubectl(['patch', 'daemonset', 'agent', '-n', 'team', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]'], {
      allowFailure: true,
      timeoutMs: 90_000,
    });
    assert.equal(release.code, 0, release.stderr);
    await eventually('the DaemonSet to be gone', async () => (await cluster.kubectl(['get', 'daemonset', 'agent', '-n', 'team'], { allowFailure: true })).code !== 0);

    // The last way out: removing the configuration.
    await cluster.kubectl(['delete', 'validatingwebhookconfiguration', 'daemonguard']);
    await eventually('DaemonSets to be admitted without the validating webhook', async () => (await create(`after-${Date.now()}`, 'team')).code === 0, 60_000);
  });
});

