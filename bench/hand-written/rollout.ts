// The hand-written twins of policies/rollout/*: each policy's checks in plain JavaScript, with the
// messages its messageExpressions give (held to the engine by test/bench/hand-written-rollout.test.ts).
//
// Inputs not covered (the engine reports an evaluation error for them, settled by the policy's
// failurePolicy): ill-typed objects the apiserver's schema refuses before any webhook sees them, and
// in rollout-safety a maxUnavailable of more digits than a 64-bit integer holds (CEL's int() fails on
// it; the twin reads it as a number), which the apiserver's validation refuses as well; and objects so
// large that an expression goes over the CEL cost limits (see security.ts).
import type { ValidationAction } from '../../src/common/vocabulary.js';
import type { HandWrittenValidatingPolicy, HandWrittenViolation, MutatingTwinFactory, ValidatingTwinFactory } from './policy.js';
import { containersOf, lowerAscii, reviewingTwin, TwinParams, violation, type ContainerShape } from './pod-reads.js';

const DENY: readonly ValidationAction[] = ['Deny'];
const WARN: readonly ValidationAction[] = ['Warn'];

/**
 * footprint reads `coverage`, which the engine computes from the cluster's Nodes; a HandWrittenReview
 * carries none (the benchmark's server is given no nodes), so coverage is null and the policy passes,
 * as the engine's does without nodes.
 */
function footprintTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const read = new TwinParams('footprint', params);
  read.string('maxTotalCpu');
  read.string('maxTotalMemory');
  read.string('label');
  read.string('labelValue');
  return { name: 'footprint', validate: () => [] };
}

/** An image reference taken apart as the policy does (its `references` and `images` variables). */
interface ImageReference {
  container: string;
  image: string;
  digest: boolean;
  tag: string;
  bare: string;
}

function referenceOf(container: ContainerShape): ImageReference {
  const image = container.image ?? '';
  const at = image.indexOf('@');
  const named = at < 0 ? image : image.substring(0, at);
  const colon = named.lastIndexOf(':');
  const tagged = colon > named.lastIndexOf('/');
  return { container: container.name, image, digest: at >= 0, tag: tagged ? named.substring(colon + 1) : '', bare: tagged ? named.substring(0, colon) : named };
}

/** The repository with its registry made explicit: Docker Hub short names expanded, its other host names as docker.io. */
function repositoryOf(bare: string): string {
  const slash = bare.indexOf('/');
  if (slash < 0) return `docker.io/library/${bare}`;
  const first = bare.substring(0, slash);
  if (!(first.includes('.') || first.includes(':') || first === 'localhost')) return `docker.io/${bare}`;
  return first === 'index.docker.io' || first === 'registry-1.docker.io' ? `docker.io${bare.substring(first.length)}` : bare;
}

function imageReferencesTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'image-references';
  const read = new TwinParams(name, params);
  const floatingTags = new Set(read.strings('floatingTags'));
  const registries = read.strings('allowedRegistries');
  const registryFolders = registries.map((r) => `${r}/`);
  const requireDigest = read.boolean('requireDigest');
  const unlistedTail = ` is not from an allowed registry: ${registries.join(', ')}`;
  const fromAllowedRegistry = (repository: string): boolean => {
    for (let i = 0; i < registries.length; i++) if (repository === registries[i] || repository.startsWith(registryFolders[i]!)) return true;
    return false;
  };
  const named = (r: ImageReference): string => `container "${r.container}" image ${r.image}`;

  return reviewingTwin(name, (daemonSet) => {
    const references = containersOf(daemonSet.spec.template.spec).map(referenceOf);
    const violations: HandWrittenViolation[] = [];
    const floating = references.filter((r) => !r.digest && (r.tag === '' || floatingTags.has(lowerAscii(r.tag))));
    if (floating.length > 0) {
      const described = floating.map((r) => `${named(r)}${r.tag === '' ? ' has no tag' : ` uses :${r.tag}`}`);
      violations.push(violation(name, `${described.join('; ')}: pin a version`, WARN));
    }
    if (registries.length > 0) {
      const unlisted = references.filter((r) => !fromAllowedRegistry(repositoryOf(r.bare)));
      if (unlisted.length > 0) violations.push(violation(name, `${unlisted.map(named).join('; ')}${unlistedTail}`, WARN));
    }
    if (requireDigest) {
      const undigested = references.filter((r) => !r.digest);
      if (undigested.length > 0) violations.push(violation(name, `${undigested.map(named).join('; ')} is not pinned by a digest (@sha256:...)`, WARN));
    }
    return violations;
  });
}

function resourcesTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'resources';
  const read = new TwinParams(name, params);
  const includeInitContainers = read.boolean('includeInitContainers');
  const requireCpuRequest = read.boolean('requireCpuRequest');
  const requireMemoryRequest = read.boolean('requireMemoryRequest');
  const requireMemoryLimit = read.boolean('requireMemoryLimit');
  const requireCpuLimit = read.boolean('requireCpuLimit');
  const has = (map: Record<string, unknown> | undefined, key: string): boolean => map !== undefined && Object.hasOwn(map, key);

  return reviewingTwin(name, (daemonSet) => {
    const pod = daemonSet.spec.template.spec;
    let described: string[] | undefined;
    for (const container of includeInitContainers ? containersOf(pod) : pod.containers) {
      const requests = container.resources?.requests;
      const limits = container.resources?.limits;
      const missing: string[] = [];
      // A limit without a request counts as both: Kubernetes copies it into the missing request.
      if (requireCpuRequest && !has(requests, 'cpu') && !has(limits, 'cpu')) missing.push('cpu request');
      if (requireMemoryRequest && !has(requests, 'memory') && !has(limits, 'memory')) missing.push('memory request');
      if (requireMemoryLimit && !has(limits, 'memory')) missing.push('memory limit');
      if (requireCpuLimit && !has(limits, 'cpu')) missing.push('cpu limit');
      if (missing.length > 0) (described ??= []).push(`container "${container.name}" has no ${missing.join(', ')}`);
    }
    return described === undefined ? [] : [violation(name, `${described.join('; ')} (multiplied by every node)`, WARN)];
  });
}

const PERCENT = /^[0-9]+%$/;
const COUNT = /^[0-9]+$/;
const SURGE = /^[0-9]+%?$/;
const NO_SURGE = /^0+%?$/;

function rolloutSafetyTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'rollout-safety';
  const read = new TwinParams(name, params);
  const percentThreshold = read.integer('maxUnavailablePercentThreshold');
  const countThreshold = read.integer('maxUnavailableCountThreshold');
  const unavailableTail = `, and a bad image then breaks them together; use less than ${percentThreshold}% or fewer than ${countThreshold} nodes (e.g. 10%)`;
  const surgeTail = ': the surge pod cannot be scheduled next to the pod it replaces (same port, same node), so the rollout stalls; set maxSurge: 0 and use maxUnavailable';

  return reviewingTwin(name, (daemonSet) => {
    const strategy = daemonSet.spec.updateStrategy;
    // The matchCondition: only RollingUpdate (the default) is checked.
    if ((strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return [];
    // int-or-string as a string; the apiserver's defaults (1 and 0) where absent.
    const maxUnavailable = String(strategy?.rollingUpdate?.maxUnavailable ?? 1);
    const maxSurge = String(strategy?.rollingUpdate?.maxSurge ?? 0);
    const violations: HandWrittenViolation[] = [];
    const percent = PERCENT.test(maxUnavailable) ? Number(maxUnavailable.substring(0, maxUnavailable.length - 1)) : -1;
    const count = COUNT.test(maxUnavailable) ? Number(maxUnavailable) : -1;
    if (!(percent < percentThreshold && count < countThreshold)) {
      const reach = percent >= 100 ? 'every node at once' : 'that many nodes at once';
      violations.push(violation(name, `updateStrategy.rollingUpdate.maxUnavailable is ${maxUnavailable}: the rollout may replace the agent on ${reach}${unavailableTail}`, DENY));
    }
    if (SURGE.test(maxSurge) && !NO_SURGE.test(maxSurge)) {
      const pod = daemonSet.spec.template.spec;
      const hostNetwork = pod.hostNetwork === true;
      let holders: string[] | undefined;
      // Containers that run for the pod's life: the containers and restartPolicy: Always sidecars.
      const sidecars = pod.initContainers?.filter((c) => c.restartPolicy === 'Always') ?? [];
      for (const container of sidecars.length === 0 ? pod.containers : sidecars.concat(pod.containers)) {
        const held = container.ports?.filter((p) => (p.hostPort ?? 0) !== 0 || hostNetwork);
        if (held === undefined || held.length === 0) continue;
        (holders ??= []).push(`container "${container.name}" holds host port ${held.map((p) => String(p.hostPort ?? p.containerPort)).join(', ')}`);
      }
      if (holders !== undefined) violations.push(violation(name, `updateStrategy.rollingUpdate.maxSurge is ${maxSurge} but ${holders.join('; ')}${surgeTail}`, DENY));
    }
    return violations;
  });
}

function rolloutSafetyOnDeleteTwin(): HandWrittenValidatingPolicy {
  const name = 'rollout-safety-on-delete';
  const message = 'updateStrategy OnDelete: nodes keep the old agent until each pod is deleted by hand';
  return reviewingTwin(name, (daemonSet) => (daemonSet.spec.updateStrategy?.type === 'OnDelete' ? [violation(name, message, WARN)] : []));
}

export const rolloutTwins: { validating: Record<string, ValidatingTwinFactory>; mutating: Record<string, MutatingTwinFactory> } = {
  validating: {
    footprint: footprintTwin,
    'image-references': imageReferencesTwin,
    resources: resourcesTwin,
    'rollout-safety': rolloutSafetyTwin,
    'rollout-safety-on-delete': rolloutSafetyOnDeleteTwin,
  },
  mutating: {},
};
