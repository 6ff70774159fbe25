// The Pod Security Standards policies of the library written by hand (policies/pod-security/): what
// pod-security-baseline and pod-security-restricted check, as one pass over the pod template with
// plain property reads, giving the violations the engine gives (same order, same messages, Deny).
//
// One pass: the pod-level fields first, then every container (initContainers, then containers, the
// order of the policies' `variables.containers`; ephemeralContainers, which a pod template cannot hold,
// are read by neither), then the template's annotations. Each control keeps a list that stays
// undefined until something fails it, so a compliant template allocates almost nothing; the lists are
// worded into messages in the order of the policy's validations.
//
// Read as the engine reads the JSON: an object set to null (securityContext: null, seccompProfile:
// null, livenessProbe: null ...) is absent, as `?.` makes it in CEL; an absent boolean, string or
// number takes the policy's `orValue` default.
//
// Not covered (the engine settles these by failurePolicy Fail, an "InternalError" violation; the
// apiserver never sends them, having decoded the DaemonSet into its Go types): ill-typed input (a
// string where a boolean belongs, null as the value of a boolean, number or list field such as
// `privileged: null` or `initContainers: null`, a template without spec or containers), a template
// so large the policy's cost budget runs out, and a missed review deadline. Nor are
// DaemonSetPolicyExceptions: the benchmark serves none.
import type { ValidationAction } from '../../src/common/vocabulary.js';
import type { HandWrittenReview, HandWrittenValidatingPolicy, HandWrittenViolation, MutatingTwinFactory, ValidatingTwinFactory } from './policy.js';

type Level = 'baseline' | 'restricted';

/** The namespace label both policies select on (spec.match.namespaceSelector: In [<level>]). */
const ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

/** Both policies' spec.validationActions. */
const DENY: readonly ValidationAction[] = Object.freeze(['Deny'] as ValidationAction[]);

// What the checks read of a pod template, every field optional (and every object nullable) as it may be in JSON.

interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  procMount?: string;
  windowsOptions?: { hostProcess?: boolean } | null;
  capabilities?: { add?: string[] | null; drop?: string[] | null } | null;
  seLinuxOptions?: { type?: string; user?: string; role?: string } | null;
  seccompProfile?: { type?: string } | null;
  appArmorProfile?: { type?: string } | null;
  sysctls?: { name: string }[];
}

interface HostAction {
  host?: string;
}

interface Handlers {
  httpGet?: HostAction | null;
  tcpSocket?: HostAction | null;
}

interface Container {
  name: string;
  securityContext?: SecurityContext | null;
  ports?: { hostPort?: number }[];
  livenessProbe?: Handlers | null;
  readinessProbe?: Handlers | null;
  startupProbe?: Handlers | null;
  lifecycle?: { postStart?: Handlers | null; preStop?: Handlers | null } | null;
}

interface Volume {
  name: string;
  hostPath?: { path: string } | null;
}

interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostUsers?: boolean;
  os?: { name?: string } | null;
  securityContext?: SecurityContext | null;
  volumes?: Volume[];
  initContainers?: Container[];
  containers: Container[];
}

interface PodTemplate {
  metadata?: { annotations?: Record<string, string> } | null;
  spec: PodSpec;
}

/** What the policies' namespaceSelector reads of the namespace object. */
interface NamespaceShape {
  metadata?: { labels?: Record<string, unknown> | null } | null;
}

/** The allowed values of both levels, built once per twin (the policies' list variables, as Sets). */
interface AllowedValues {
  /** pod-security-baseline's allowedCapabilities. */
  baselineCapabilities: ReadonlySet<string>;
  /** The same, joined as baseline's Capabilities message lists them. */
  baselineCapabilitiesText: string;
  seLinuxTypes: ReadonlySet<string>;
  /** The SELinux types but '', joined as the SELinux message lists them. */
  seLinuxTypesText: string;
  safeSysctls: ReadonlySet<string>;
  /** The keys a volume may have under Restricted's Volume Types: its name and the allowed sources. */
  restrictedVolumeKeys: ReadonlySet<string>;
}

const BASELINE_CAPABILITIES = ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'];
const SELINUX_TYPES = ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];
const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
  'net.ipv4.tcp_slow_start_after_idle',
  'net.ipv4.tcp_notsent_lowat',
];
const RESTRICTED_VOLUME_SOURCES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret'];

function allowedValues(): AllowedValues {
  return {
    baselineCapabilities: new Set(BASELINE_CAPABILITIES),
    baselineCapabilitiesText: BASELINE_CAPABILITIES.join(', '),
    seLinuxTypes: new Set(SELINUX_TYPES),
    seLinuxTypesText: SELINUX_TYPES.filter((type) => type !== '').join(', '),
    safeSysctls: new Set(SAFE_SYSCTLS),
    restrictedVolumeKeys: new Set(['name', ...RESTRICTED_VOLUME_SOURCES]),
  };
}

const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';
const VOLUME_TYPES_ALLOWED_TEXT = RESTRICTED_VOLUME_SOURCES.join(', ');

/** A profile type (seccomp, AppArmor) both levels accept. */
function allowedProfileType(type: string): boolean {
  return type === 'RuntimeDefault' || type === 'Localhost';
}

/** An AppArmor annotation's value both levels accept. */
function allowedAppArmorAnnotation(value: string): boolean {
  return value === '' || value === 'runtime/default' || value.startsWith('localhost/');
}

/** `x.?host.orValue('') != ''` (null counts as set, as it does there). */
function setsHost(action: HostAction | null | undefined): boolean {
  const host = action?.host;
  return host !== undefined && host !== '';
}

/** The host fields `handlers` (a probe or a lifecycle hook, named `prefix`) sets, appended to `fields`. */
function hostFields(handlers: Handlers | null | undefined, prefix: string, fields: string[] | undefined): string[] | undefined {
  if (handlers == null) return fields;
  if (setsHost(handlers.httpGet)) (fields ??= []).push(`${prefix}.httpGet.host`);
  if (setsHost(handlers.tcpSocket)) (fields ??= []).push(`${prefix}.tcpSocket.host`);
  return fields;
}

/** What the pass found, one list per control (undefined: nothing). The order of entries is the order of the policy's messages. */
interface Findings {
  hostProcess: string[] | undefined;
  hostNamespaces: string[] | undefined;
  privileged: string[] | undefined;
  capabilities: string[] | undefined;
  /** Baseline: hostPath volumes; Restricted: volumes of a disallowed type. */
  volumes: string[] | undefined;
  privilegeEscalation: string[] | undefined;
  /** Restricted's Running as Non-root: the pod's and the containers' runAsNonRoot=false... */
  runAsNonRootFalse: string[] | undefined;
  /** ...then the containers that leave it unset while the pod does not set it true. */
  runAsNonRootUnset: string[] | undefined;
  runAsUser: string[] | undefined;
  hostPorts: string[] | undefined;
  appArmor: string[] | undefined;
  seLinux: string[] | undefined;
  procMount: string[] | undefined;
  seccomp: string[] | undefined;
  sysctls: string[] | undefined;
  probeHosts: string[] | undefined;
}

function noFindings(): Findings {
  return {
    hostProcess: undefined,
    hostNamespaces: undefined,
    privileged: undefined,
    capabilities: undefined,
    volumes: undefined,
    privilegeEscalation: undefined,
    runAsNonRootFalse: undefined,
    runAsNonRootUnset: undefined,
    runAsUser: undefined,
    hostPorts: undefined,
    appArmor: undefined,
    seLinux: undefined,
    procMount: undefined,
    seccomp: undefined,
    sysctls: undefined,
    probeHosts: undefined,
  };
}

/** What the container checks need to know of the pod, read once. */
interface PodContext {
  restricted: boolean;
  /** Not spec.os.name=windows: Restricted's Capabilities, Privilege Escalation and Seccomp apply. */
  linux: boolean;
  /** spec.hostUsers: false (Baseline's /proc Mount Type and Restricted's non-root controls do not apply). */
  userNamespace: boolean;
  /** The pod sets runAsNonRoot: true (containers may leave it unset). */
  podRunAsNonRoot: boolean;
  /** The pod's seccompProfile.type is RuntimeDefault or Localhost (containers may leave it unset). */
  podSeccompAllowed: boolean;
}

function seLinuxFails(options: SecurityContext['seLinuxOptions'], allowed: AllowedValues): boolean {
  if (options == null) return false;
  const { type, user, role } = options;
  return (type !== undefined && !allowed.seLinuxTypes.has(type)) || (user !== undefined && user !== '') || (role !== undefined && role !== '');
}

function baselineCapabilities(add: string[], allowed: AllowedValues): string | undefined {
  let added: string[] | undefined;
  for (let i = 0; i < add.length; i++) {
    if (!allowed.baselineCapabilities.has(add[i]!)) (added ??= []).push(add[i]!);
  }
  return added?.join(', ');
}

/** Restricted's Capabilities wording for a container, or undefined when it drops ALL and adds at most NET_BIND_SERVICE. */
function restrictedCapabilities(name: string, capabilities: SecurityContext['capabilities']): string | undefined {
  const dropsAll = capabilities?.drop?.includes('ALL') === true;
  const add = capabilities?.add;
  let added: string[] | undefined;
  if (add != null) {
    for (let i = 0; i < add.length; i++) if (add[i] !== 'NET_BIND_SERVICE') (added ??= []).push(add[i]!);
  }
  if (dropsAll && added === undefined) return undefined;
  return `container "${name}"${dropsAll ? '' : ' must drop ALL'}${added === undefined ? '' : `${dropsAll ? '' : ' and'} adds ${added.join(', ')}`}`;
}

function checkContainer(container: Container, pod: PodContext, allowed: AllowedValues, found: Findings): void {
  const { name } = container;
  const context = container.securityContext;
  if (context != null) {
    if (context.windowsOptions?.hostProcess === true) (found.hostProcess ??= []).push(`container "${name}"`);
    if (context.privileged === true) (found.privileged ??= []).push(`container "${name}"`);
    if (!pod.restricted) {
      const add = context.capabilities?.add;
      const added = add == null ? undefined : baselineCapabilities(add, allowed);
      if (added !== undefined) (found.capabilities ??= []).push(`container "${name}" adds ${added}`);
    }
    const appArmor = context.appArmorProfile?.type;
    if (appArmor !== undefined && !allowedProfileType(appArmor)) (found.appArmor ??= []).push(`container "${name}" sets appArmorProfile.type=${appArmor}`);
    if (seLinuxFails(context.seLinuxOptions, allowed)) (found.seLinux ??= []).push(`container "${name}"`);
    const procMount = context.procMount;
    if (procMount !== undefined && procMount !== 'Default' && (pod.restricted || !pod.userNamespace)) {
      (found.procMount ??= []).push(`container "${name}" sets procMount=${procMount}`);
    }
    if (!pod.restricted) {
      const seccomp = context.seccompProfile?.type;
      if (seccomp !== undefined && !allowedProfileType(seccomp)) (found.seccomp ??= []).push(`container "${name}"`);
    }
  }
  if (pod.restricted) checkRestrictedContainer(name, context, pod, found);
  const ports = container.ports;
  if (ports !== undefined) {
    let hostPorts: string | undefined;
    for (let i = 0; i < ports.length; i++) {
      const hostPort = ports[i]!.hostPort;
      if (hostPort !== undefined && hostPort !== 0) hostPorts = hostPorts === undefined ? String(hostPort) : `${hostPorts}, ${hostPort}`;
    }
    if (hostPorts !== undefined) (found.hostPorts ??= []).push(`container "${name}" uses hostPort ${hostPorts}`);
  }
  let fields = hostFields(container.livenessProbe, 'livenessProbe', undefined);
  fields = hostFields(container.readinessProbe, 'readinessProbe', fields);
  fields = hostFields(container.startupProbe, 'startupProbe', fields);
  const lifecycle = container.lifecycle;
  if (lifecycle != null) {
    fields = hostFields(lifecycle.postStart, 'lifecycle.postStart', fields);
    fields = hostFields(lifecycle.preStop, 'lifecycle.preStop', fields);
  }
  if (fields !== undefined) (found.probeHosts ??= []).push(`container "${name}" sets ${fields.join(', ')}`);
}

/** The controls only Restricted has, or words differently, for one container. */
function checkRestrictedContainer(name: string, context: SecurityContext | null | undefined, pod: PodContext, found: Findings): void {
  if (pod.linux) {
    const capabilities = restrictedCapabilities(name, context?.capabilities);
    if (capabilities !== undefined) (found.capabilities ??= []).push(capabilities);
    if (context?.allowPrivilegeEscalation !== false) (found.privilegeEscalation ??= []).push(`container "${name}"`);
    const seccomp = context?.seccompProfile?.type;
    if (seccomp !== undefined) {
      if (!allowedProfileType(seccomp)) (found.seccomp ??= []).push(`container "${name}" sets seccompProfile.type=${seccomp}`);
    } else if (!pod.podSeccompAllowed) {
      (found.seccomp ??= []).push(`container "${name}" has no seccompProfile (nor does the pod)`);
    }
  }
  if (!pod.userNamespace) {
    const runAsNonRoot = context?.runAsNonRoot;
    if (runAsNonRoot === false) (found.runAsNonRootFalse ??= []).push(`container "${name}" sets runAsNonRoot=false`);
    else if (runAsNonRoot === undefined && !pod.podRunAsNonRoot) (found.runAsNonRootUnset ??= []).push(`container "${name}" does not set runAsNonRoot=true (nor does the pod)`);
    if (context?.runAsUser === 0) (found.runAsUser ??= []).push(`container "${name}"`);
  }
}

/** The pod-level fields, then every container, then the annotations: everything either level checks. */
function scanTemplate(template: PodTemplate, restricted: boolean, allowed: AllowedValues): Findings {
  const found = noFindings();
  const spec = template.spec;
  const pod = spec.securityContext;
  if (spec.hostNetwork === true) (found.hostNamespaces ??= []).push('hostNetwork=true');
  if (spec.hostPID === true) (found.hostNamespaces ??= []).push('hostPID=true');
  if (spec.hostIPC === true) (found.hostNamespaces ??= []).push('hostIPC=true');
  const userNamespace = spec.hostUsers === false;
  const linux = spec.os?.name !== 'windows';
  const podSeccomp = pod?.seccompProfile?.type;
  const context: PodContext = {
    restricted,
    linux,
    userNamespace,
    podRunAsNonRoot: pod?.runAsNonRoot === true,
    podSeccompAllowed: podSeccomp !== undefined && allowedProfileType(podSeccomp),
  };
  if (pod != null) {
    if (pod.windowsOptions?.hostProcess === true) found.hostProcess = ['pod'];
    const appArmor = pod.appArmorProfile?.type;
    if (appArmor !== undefined && !allowedProfileType(appArmor)) found.appArmor = [`pod sets appArmorProfile.type=${appArmor}`];
    if (seLinuxFails(pod.seLinuxOptions, allowed)) found.seLinux = ['pod'];
    if (podSeccomp !== undefined && !allowedProfileType(podSeccomp)) {
      if (!restricted) found.seccomp = ['pod'];
      else if (linux) found.seccomp = [`pod sets seccompProfile.type=${podSeccomp}`];
    }
    if (restricted && !userNamespace) {
      if (pod.runAsNonRoot === false) found.runAsNonRootFalse = ['pod sets runAsNonRoot=false'];
      if (pod.runAsUser === 0) found.runAsUser = ['pod'];
    }
    const sysctls = pod.sysctls;
    if (sysctls !== undefined) {
      for (let i = 0; i < sysctls.length; i++) {
        const sysctl = sysctls[i]!.name;
        if (!allowed.safeSysctls.has(sysctl)) (found.sysctls ??= []).push(sysctl);
      }
    }
  }
  const volumes = spec.volumes;
  if (volumes !== undefined) {
    for (let i = 0; i < volumes.length; i++) {
      const volume = volumes[i]!;
      if (restricted) {
        const disallowed = disallowedVolumeKeys(volume, allowed);
        if (disallowed !== undefined) (found.volumes ??= []).push(`volume "${volume.name}" is ${disallowed}`);
      } else if (volume.hostPath != null) {
        (found.volumes ??= []).push(`volume "${volume.name}" (${volume.hostPath.path})`);
      }
    }
  }
  const init = spec.initContainers;
  if (init !== undefined) for (let i = 0; i < init.length; i++) checkContainer(init[i]!, context, allowed, found);
  const containers = spec.containers;
  for (let i = 0; i < containers.length; i++) checkContainer(containers[i]!, context, allowed, found);
  const annotations = template.metadata?.annotations;
  if (annotations != null) {
    for (const key of Object.keys(annotations)) {
      if (!key.startsWith(APPARMOR_ANNOTATION_PREFIX)) continue;
      const value = annotations[key]!;
      if (!allowedAppArmorAnnotation(value)) (found.appArmor ??= []).push(`annotation ${key}=${value}`);
    }
  }
  return found;
}

/** The volume's keys Restricted does not allow, joined, in the volume's key order; undefined when none. */
function disallowedVolumeKeys(volume: Volume, allowed: AllowedValues): string | undefined {
  let disallowed: string | undefined;
  for (const key of Object.keys(volume)) {
    if (!allowed.restrictedVolumeKeys.has(key)) disallowed = disallowed === undefined ? key : `${disallowed}, ${key}`;
  }
  return disallowed;
}

/** As the engine words every message: on one line, trimmed (a value such as an annotation's may hold newlines). */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').trim();
}

/** The violations of one level, in the order of its policy's validations. */
function worded(policy: string, restricted: boolean, found: Findings, allowed: AllowedValues): HandWrittenViolation[] {
  const violations: HandWrittenViolation[] = [];
  const add = (message: string): void => {
    violations.push({ policy, message: oneLine(message), actions: DENY });
  };
  if (found.hostProcess) add(`HostProcess: ${found.hostProcess.join(', ')} must not set securityContext.windowsOptions.hostProcess=true`);
  if (found.hostNamespaces) add(`Host Namespaces: ${found.hostNamespaces.join(', ')} is not allowed`);
  if (found.privileged) add(`Privileged Containers: ${found.privileged.join(', ')} must not set securityContext.privileged=true`);
  if (found.capabilities) {
    add(
      restricted
        ? `Capabilities: ${found.capabilities.join('; ')}; drop ALL and add at most NET_BIND_SERVICE`
        : `Capabilities: ${found.capabilities.join('; ')}; only ${allowed.baselineCapabilitiesText} may be added`,
    );
  }
  if (restricted) {
    if (found.volumes) add(`Volume Types: ${found.volumes.join('; ')}; allowed: ${VOLUME_TYPES_ALLOWED_TEXT}`);
    if (found.privilegeEscalation) add(`Privilege Escalation: ${found.privilegeEscalation.join(', ')} must set securityContext.allowPrivilegeEscalation=false`);
    if (found.runAsNonRootFalse || found.runAsNonRootUnset) add(`Running as Non-root: ${[...(found.runAsNonRootFalse ?? []), ...(found.runAsNonRootUnset ?? [])].join('; ')}`);
    if (found.runAsUser) add(`Running as Non-root user: ${found.runAsUser.join(', ')} must not set runAsUser=0`);
  } else if (found.volumes) {
    add(`HostPath Volumes: ${found.volumes.join(', ')} is a hostPath volume`);
  }
  if (found.hostPorts) add(`Host Ports: ${found.hostPorts.join('; ')}`);
  if (found.appArmor) add(`AppArmor: ${found.appArmor.join('; ')}; allowed: RuntimeDefault, Localhost (annotations: runtime/default, localhost/*)`);
  if (found.seLinux) add(`SELinux: ${found.seLinux.join(', ')} must set seLinuxOptions.type to one of ${allowed.seLinuxTypesText} (or leave it empty) and leave user and role empty`);
  if (found.procMount) add(`/proc Mount Type: ${found.procMount.join(', ')}; only Default is allowed${restricted ? '' : ' unless the pod sets hostUsers: false'}`);
  if (found.seccomp) {
    add(
      restricted
        ? `Seccomp: ${found.seccomp.join('; ')}; set seccompProfile.type to RuntimeDefault or Localhost`
        : `Seccomp: ${found.seccomp.join(', ')} must not set seccompProfile.type=Unconfined`,
    );
  }
  if (found.sysctls) add(`Sysctls: ${found.sysctls.join(', ')} is not a safe sysctl`);
  if (found.probeHosts) add(`Host Probes / Lifecycle Hooks: ${found.probeHosts.join('; ')}; the host field must be empty`);
  return violations;
}

/** The twin of pod-security-<level>: matched on CREATE and UPDATE in namespaces labelled enforce=<level>. */
function podSecurityTwin(level: Level): HandWrittenValidatingPolicy {
  const name = `pod-security-${level}`;
  const restricted = level === 'restricted';
  const allowed = allowedValues();
  return {
    name,
    validate(review: HandWrittenReview): HandWrittenViolation[] {
      if (review.operation !== 'CREATE' && review.operation !== 'UPDATE') return [];
      const namespace = review.namespaceObject as NamespaceShape | null;
      if (namespace === null) {
        // The engine cannot decide the namespaceSelector and fails closed (failurePolicy: Fail).
        const message = `policy could not be evaluated: spec.match.namespaceSelector: the labels of namespace "${review.namespace}" are not known`;
        // An evaluation failure's violation has the reason InternalError (src/engine/review.ts).
        return [{ policy: name, message, actions: DENY, reason: 'InternalError' }];
      }
      const labels = namespace.metadata?.labels;
      if (labels == null || labels[ENFORCE_LABEL] !== level) return [];
      const object = review.object as unknown as { spec: { template: PodTemplate } };
      const found = scanTemplate(object.spec.template, restricted, allowed);
      return worded(name, restricted, found, allowed);
    },
  };
}

export const podSecurityTwins: { validating: Record<string, ValidatingTwinFactory>; mutating: Record<string, MutatingTwinFactory> } = {
  validating: {
    // Neither policy has params: every value they allow is part of the standard.
    'pod-security-baseline': () => podSecurityTwin('baseline'),
    'pod-security-restricted': () => podSecurityTwin('restricted'),
  },
  mutating: {},
};
