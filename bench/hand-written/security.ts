// The hand-written twins of policies/security/*: each policy's checks in plain JavaScript, with the
// messages its messageExpressions give (held to the engine by test/bench/hand-written-security.test.ts).
//
// Inputs not covered (the engine reports an evaluation error for them, settled by the policy's
// failurePolicy; a twin answers as if the field were absent or reads it as it is): ill-typed objects
// the apiserver's schema refuses before any webhook sees them (a string where a list belongs, null for
// an object, a container without a name); and objects so large that an expression spends more than the
// CEL cost limits (1,000,000 units per expression, 10,000,000 per policy, as in Kubernetes): the engine
// then gives a messageExpression's static fallback ("failed expression: ...") or fails the policy,
// where a twin, which has no such limit, gives the full answer. Measured: the same answers up to 64
// hostPath volumes mounted by 16 containers (hand-written-security.test.ts); at 128 volumes and 40
// containers host-path's writable messageExpression goes over its limit.
import type { ValidationAction } from '../../src/common/vocabulary.js';
import type { HandWrittenValidatingPolicy, HandWrittenViolation, MutatingTwinFactory, ValidatingTwinFactory } from './policy.js';
import { containersOf, labelOf, reviewingTwin, TwinParams, upperAscii, violation, type ContainerShape } from './pod-reads.js';
import { hostPathTwin } from './host-path.js';

const DENY: readonly ValidationAction[] = ['Deny'];

function capabilitiesTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'capabilities';
  const read = new TwinParams(name, params);
  const allowedList = read.strings('allowedCapabilities');
  const privilegedList = read.strings('privilegedCapabilities');
  const hostPathList = read.strings('hostPathCapabilities');
  const namespaceList = read.strings('privilegedCapabilityNamespaces');
  const allowed = new Set(allowedList);
  const privileged = new Set(privilegedList);
  const hostPathOnly = new Set(hostPathList);
  const namespaces = new Set(namespaceList);
  const unknownTail = `, which only DaemonSets in namespaces ${namespaceList.join(', ')} may add; elsewhere: ${allowedList.join(', ')} (this DaemonSet is in "`;
  const privilegedTail = `; ${privilegedList.join(', ')} (and ${hostPathList.join(', ')} next to a hostPath volume) are allowed only in namespaces ${namespaceList.join(', ')} (this DaemonSet is in "`;

  /** A capability as the runtime reads it: upper-cased, without CAP_. */
  const canonical = (capability: string): string => {
    const upper = upperAscii(capability);
    return upper.startsWith('CAP_') ? upper.substring(4) : upper;
  };

  return reviewingTwin(name, (daemonSet, review) => {
    if (namespaces.has(review.namespace)) return [];
    const pod = daemonSet.spec.template.spec;
    const containers = containersOf(pod);
    let unknown: string[] | undefined;
    let found: { container: ContainerShape; caps: string[] }[] | undefined;
    for (const container of containers) {
      const add = container.securityContext?.capabilities?.add;
      if (add === undefined || add.length === 0) continue;
      const caps = add.map(canonical);
      (found ??= []).push({ container, caps });
      const outside = caps.filter((c) => !allowed.has(c) && !privileged.has(c));
      if (outside.length > 0) (unknown ??= []).push(`container "${container.name}" adds ${outside.join(', ')}`);
    }
    if (found === undefined) return [];
    const violations: HandWrittenViolation[] = [];
    if (unknown !== undefined) violations.push(violation(name, `${unknown.join('; ')}${unknownTail}${review.namespace}")`, DENY));
    const hostPaths: string[] = [];
    for (const volume of pod.volumes ?? []) if (volume.hostPath !== undefined) hostPaths.push(volume.hostPath.path);
    const nextToHostPath = hostPaths.length > 0;
    const privilegedHere = (c: string): boolean => privileged.has(c) || (nextToHostPath && hostPathOnly.has(c));
    const described: string[] = [];
    for (const { container, caps } of found) {
      const held = caps.filter(privilegedHere);
      if (held.length === 0) continue;
      const because = nextToHostPath && caps.some((c) => hostPathOnly.has(c) && !privileged.has(c)) ? ` next to hostPath volumes (${hostPaths.join(', ')})` : '';
      described.push(`container "${container.name}" adds ${held.join(', ')}${because}`);
    }
    if (described.length > 0) violations.push(violation(name, `${described.join('; ')}${privilegedTail}${review.namespace}")`, DENY));
    return violations;
  });
}

/**
 * control-plane-coverage reads `coverage`, which the engine computes from the cluster's Nodes; a
 * HandWrittenReview carries none (the benchmark's server is given no nodes), so coverage is null and
 * the policy passes, as the engine's does without nodes.
 */
function controlPlaneCoverageTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const read = new TwinParams('control-plane-coverage', params);
  read.strings('controlPlaneLabels');
  read.strings('allowed');
  return { name: 'control-plane-coverage', validate: () => [] };
}

function controlPlaneTolerationsTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'control-plane-tolerations';
  const read = new TwinParams(name, params);
  const taintKeys = new Set(read.strings('taintKeys'));
  const label = read.string('label');
  const labelValue = read.string('labelValue');
  const labelNamespaceList = read.strings('labelNamespaces');
  const labelNamespaces = new Set(labelNamespaceList);
  const inLabelNamespace = `; if it belongs there, label the DaemonSet ${label}: "${labelValue}", otherwise remove the toleration`;
  const elsewhere = `; only DaemonSets in namespaces ${labelNamespaceList.join(', ')} may (labelled ${label}: "${labelValue}"), and the label does not count in "`;

  return reviewingTwin(name, (daemonSet, review) => {
    const tolerations = daemonSet.spec.template.spec.tolerations;
    if (tolerations === undefined) return [];
    let described: string[] | undefined;
    for (const t of tolerations) {
      const effect = t.effect ?? '';
      if (effect !== '' && effect !== 'NoSchedule') continue;
      const key = t.key ?? '';
      const operator = t.operator ?? 'Equal';
      if (!taintKeys.has(key) && !(key === '' && operator === 'Exists')) continue;
      const value = t.value ?? '';
      const text =
        `{${key === '' ? '' : `key: ${key}, `}operator: ${operator}${value === '' ? '' : `, value: ${value}`}${effect === '' ? '' : `, effect: ${effect}`}}` +
        (key === '' ? ` (no key: tolerates every ${effect === '' ? '' : `${effect} `}taint)` : '');
      (described ??= []).push(text);
    }
    if (described === undefined) return [];
    const namespace = review.namespace;
    const labelled = labelNamespaces.has(namespace);
    if (labelled && labelOf(daemonSet.metadata, label) === labelValue) return [];
    const advice = labelled
      ? inLabelNamespace
      : `${elsewhere}${namespace}"; remove the toleration, or ask a cluster administrator to add "${namespace}" to the labelNamespaces param of the control-plane-tolerations policy`;
    return [violation(name, `toleration ${described.join(' and ')} lets this DaemonSet run on control-plane nodes${advice}`, DENY)];
  });
}

function hostNamespacesTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'host-namespaces';
  const read = new TwinParams(name, params);
  const rule = (field: 'hostNetwork' | 'hostPID' | 'hostIPC', param: string): { field: typeof field; namespaces: Set<string>; message: string } => {
    const list = read.strings(param);
    return { field, namespaces: new Set(list), message: `${field}: true is allowed only in namespaces ${list.join(', ')} (this DaemonSet is in "` };
  };
  const rules = [rule('hostNetwork', 'hostNetworkNamespaces'), rule('hostPID', 'hostPIDNamespaces'), rule('hostIPC', 'hostIPCNamespaces')];
  return reviewingTwin(name, (daemonSet, review) => {
    const pod = daemonSet.spec.template.spec;
    const violations: HandWrittenViolation[] = [];
    for (const { field, namespaces, message } of rules) {
      if (pod[field] === true && !namespaces.has(review.namespace)) violations.push(violation(name, `${message}${review.namespace}")`, DENY));
    }
    return violations;
  });
}

function hostPortsTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'host-ports';
  const allowedList = new TwinParams(name, params).integers('allowedPorts');
  const allowed = new Set(allowedList);
  const tail = `; allowed host ports: ${allowedList.length === 0 ? 'none' : allowedList.join(', ')}`;
  return reviewingTwin(name, (daemonSet) => {
    const pod = daemonSet.spec.template.spec;
    if (pod.hostNetwork === true) return [];
    let offending: string[] | undefined;
    for (const container of containersOf(pod)) {
      const ports = container.ports;
      if (ports === undefined) continue;
      let used: string[] | undefined;
      for (const port of ports) {
        const hostPort = port.hostPort ?? 0;
        if (hostPort !== 0 && !allowed.has(hostPort)) (used ??= []).push(`${hostPort}/${port.protocol ?? 'TCP'}`);
      }
      if (used !== undefined) (offending ??= []).push(`container "${container.name}" uses hostPort ${used.join(', ')}`);
    }
    return offending === undefined ? [] : [violation(name, `${offending.join('; ')}${tail}`, DENY)];
  });
}

function privilegedNamespacesTwin(params: Parameters<ValidatingTwinFactory>[0]): HandWrittenValidatingPolicy {
  const name = 'privileged-namespaces';
  const read = new TwinParams(name, params);
  const allowedList = read.strings('allowedNamespaces');
  const allowedNamespaces = new Set(allowedList);
  const label = read.string('namespaceLabel');
  const labelValue = read.string('namespaceLabelValue');
  const confinedList = read.strings('confinedSELinuxTypes');
  const confined = new Set(confinedList);
  const where = `${allowedList.join(', ')} or in namespaces labelled ${label}=${labelValue} (this DaemonSet is in "`;
  const privilegedTail = ` privileged; privileged containers are allowed only in namespaces ${where}`;
  const unconfinedTail =
    `, which SELinux does not confine: as privileged as privileged: true; outside namespaces ${allowedList.join(', ')} or namespaces labelled ` +
    `${label}=${labelValue} only these types: ${confinedList.filter((t) => t !== '').join(', ')} (this DaemonSet is in "`;
  const unmaskedTail =
    ' procMount: Unmasked, which lets root in the container write the node kernel settings (the program kernel.core_pattern names runs as root ' +
    `on the node); allowed only with hostUsers: false, or in namespaces ${where}`;
  const quoted = (names: string[]): string => names.map((n) => `"${n}"`).join(', ');

  return reviewingTwin(name, (daemonSet, review) => {
    const pod = daemonSet.spec.template.spec;
    const containers = containersOf(pod);
    const privileged: string[] = [];
    const unconfined: string[] = [];
    const unmasked: string[] = [];
    const podType = pod.securityContext?.seLinuxOptions?.type ?? '';
    if (!confined.has(podType)) unconfined.push(`the pod uses SELinux type ${podType}`);
    const hostUsers = pod.hostUsers ?? true;
    for (const container of containers) {
      const context = container.securityContext;
      if (context?.privileged === true) privileged.push(container.name);
      const type = context?.seLinuxOptions?.type ?? '';
      if (!confined.has(type)) unconfined.push(`container "${container.name}" uses SELinux type ${type}`);
      if (hostUsers && (context?.procMount ?? 'Default') === 'Unmasked') unmasked.push(container.name);
    }
    if (privileged.length === 0 && unconfined.length === 0 && unmasked.length === 0) return [];
    const namespace = review.namespace;
    if (allowedNamespaces.has(namespace) || (review.namespaceObject !== null && labelOf(review.namespaceObject.metadata as { labels?: Record<string, string> }, label) === labelValue)) return [];
    const violations: HandWrittenViolation[] = [];
    if (privileged.length > 0) {
      const one = privileged.length === 1;
      violations.push(violation(name, `${one ? 'container ' : 'containers '}${quoted(privileged)}${one ? ' is' : ' are'}${privilegedTail}${namespace}")`, DENY));
    }
    if (unconfined.length > 0) violations.push(violation(name, `${unconfined.join('; ')}${unconfinedTail}${namespace}")`, DENY));
    if (unmasked.length > 0) {
      const one = unmasked.length === 1;
      violations.push(violation(name, `${one ? 'container ' : 'containers '}${quoted(unmasked)}${one ? ' sets' : ' set'}${unmaskedTail}${namespace}")`, DENY));
    }
    return violations;
  });
}

export const securityTwins: { validating: Record<string, ValidatingTwinFactory>; mutating: Record<string, MutatingTwinFactory> } = {
  validating: {
    capabilities: capabilitiesTwin,
    'control-plane-coverage': controlPlaneCoverageTwin,
    'control-plane-tolerations': controlPlaneTolerationsTwin,
    'host-namespaces': hostNamespacesTwin,
    'host-path': hostPathTwin,
    'host-ports': hostPortsTwin,
    'privileged-namespaces': privilegedNamespacesTwin,
  },
  mutating: {},
};
