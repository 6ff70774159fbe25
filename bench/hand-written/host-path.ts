// The hand-written twin of policies/security/host-path.yaml: each hostPath judged on the path the node
// resolves (repeated "/" and "." dropped, leading /proc/<pid>/root and cwd links taken off, other
// per-process links read as the root, /var/run read as /run), against the allowed paths, the
// read-only paths and the node-sensitive lists, all normalized once when the twin is made.
// Part of the security group (security.ts); held to the engine by test/bench/hand-written-security.test.ts.
import type { ValidationAction } from '../../src/common/vocabulary.js';
import type { HandWrittenValidatingPolicy, HandWrittenViolation, ValidatingTwinFactory } from './policy.js';
import { containersOf, reviewingTwin, TwinParams, violation, type ContainerShape } from './pod-reads.js';

const NAME = 'host-path';
const DENY: readonly ValidationAction[] = ['Deny'];

/** Leading /proc/<pid>/root/ or cwd/ links (optionally through task/<tid>/), any number of them, on a path spelled "a/b/c/". */
const ROOT_LINKS = /^(proc\/[^/]+\/(task\/[^/]+\/)?(root|cwd)\/)+/;
/** Anything else below a process's folder: a link whose target the path does not tell. */
const PROCESS_FOLDER = /^\/proc\/([0-9]+|self|thread-self)(\/|$)/;

/** The segments of a path without "" and "." (what repeated slashes and "." spell). */
function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '' && s !== '.');
}

/** /var/run is /run on every current distribution. */
function withoutVarRun(path: string): string {
  return path === '/var/run' || path.startsWith('/var/run/') ? `/run${path.substring(8)}` : path;
}

/** A param's path as the policy compares it: segments joined, /var/run as /run (no /proc links: params are the admin's). */
function normalizedParam(path: string): string {
  return withoutVarRun(`/${segmentsOf(path).join('/')}`);
}

/** True when `path` is below `folder` by whole segments (`folder` is not "/"): `path` starts with `folder` + "/", without building that string. */
function isBelow(path: string, folder: string): boolean {
  return path.length > folder.length && path.charCodeAt(folder.length) === 47 && path.startsWith(folder);
}

/** What a mount of the node's `path` reaches: the path itself, a folder holding `other`, or something below `other`. */
function exposes(path: string, other: string): boolean {
  return path === '/' || other === '/' || path === other || isBelow(other, path) || isBelow(path, other);
}

/** An absolute path without empty, "." or ".." segments and without a trailing "/": most hostPaths, which need no segment walk. */
const PLAIN = /^(?:\/(?!\.{1,2}(?:\/|$))[^/]+)+$/;

interface SensitiveList {
  what: string;
  paths: string[];
  namespaces: Set<string>;
  /** What the message says after the paths: how to fix it, the namespaces, the param. */
  tail: string;
  readOnlySuffices: boolean;
}

interface HostPathMount {
  name: string;
  raw: string;
  /** True when no container mounts it writable (or none mounts it at all). */
  readOnly: boolean;
  /** The path the node resolves. */
  path: string;
  /** The path as written without empty and "." segments. */
  clean: string;
}

/** How a message names a mount: hostPath <raw> (volume "<name>"[, on the node <path>]). */
function shown(m: HostPathMount): string {
  return `hostPath ${m.raw} (volume "${m.name}"${m.path === m.clean ? '' : `, on the node ${m.path}`})`;
}

/**
 * The path the node resolves for a path without empty and "." segments (the policy's `unrooted` and
 * `hostPaths` variables): leading /proc/<pid>/root and cwd links taken off, any other per-process
 * folder read as the root, /var/run read as /run.
 */
function resolvedPath(clean: string): string {
  let path = clean;
  if (clean.startsWith('/proc/')) {
    // The path spelled "a/b/c/", so that the links match whole segments only.
    const spelled = `${clean.substring(1)}/`;
    const through = ROOT_LINKS.exec(spelled)?.[0] ?? '';
    path = through.length === spelled.length ? '/' : `/${spelled.substring(through.length, spelled.length - 1)}`;
    if (PROCESS_FOLDER.test(path)) return '/';
  }
  return withoutVarRun(path);
}

/** True when some container mounts volume `name` without readOnly: true. */
function mountedWritable(containers: ContainerShape[], name: string): boolean {
  for (const container of containers) {
    const mounts = container.volumeMounts;
    if (mounts === undefined) continue;
    for (const mount of mounts) if (mount.name === name && mount.readOnly !== true) return true;
  }
  return false;
}

export const hostPathTwin: ValidatingTwinFactory = (params): HandWrittenValidatingPolicy => {
  const read = new TwinParams(NAME, params);
  const allowedParam = read.strings('allowedPaths');
  const readOnlyParam = read.strings('readOnlyPaths');
  const allowed = new Set(allowedParam.map(normalizedParam));
  // What a path below an allowed path starts with ("/" allows the root itself only).
  const allowedFolderSet = new Set([...allowed].filter((p) => p !== '/'));
  const readOnlyPaths = readOnlyParam.map(normalizedParam);
  const notAllowedTail = ` not under an allowed path; allowed: ${allowedParam.join(', ')}`;
  const writableTail = `; mount ${readOnlyParam.join(', ')} (and folders holding them) with readOnly: true`;
  const list = (what: string, pathsParam: string, namespacesParam: string, readOnlySuffices: boolean): SensitiveList => {
    const namespaces = read.strings(namespacesParam);
    const how = readOnlySuffices ? ') writable: mount it readOnly: true, or run in namespaces ' : '), read-only or not: allowed only in namespaces ';
    return { what, paths: read.strings(pathsParam).map(normalizedParam), namespaces: new Set(namespaces), tail: `${how}${namespaces.join(', ')} (param ${namespacesParam})`, readOnlySuffices };
  };
  const sensitive: SensitiveList[] = [
    list('kernel interfaces', 'procSysPaths', 'procSysNamespaces', true),
    list('the kubelet state', 'kubeletStatePaths', 'kubeletStateNamespaces', true),
    list('node credentials', 'credentialPaths', 'credentialNamespaces', false),
    list('binaries the node runs as root', 'pluginBinaryPaths', 'pluginBinaryNamespaces', true),
    list('the container runtime state', 'runtimeStatePaths', 'runtimeStateNamespaces', true),
    list('the container runtime socket', 'runtimeSockets', 'runtimeSocketNamespaces', false),
    list('the service manager of the node', 'serviceManagerPaths', 'serviceManagerNamespaces', false),
    list('host devices', 'devicePaths', 'deviceNamespaces', false),
  ];

  // The path or a folder holding it is allowed ("/" allows the root itself only, so the walk stops below it).
  const isAllowed = (path: string): boolean => {
    if (allowed.has(path)) return true;
    for (let end = path.lastIndexOf('/'); end > 0; end = path.lastIndexOf('/', end - 1)) if (allowedFolderSet.has(path.substring(0, end))) return true;
    return false;
  };

  return reviewingTwin(NAME, (daemonSet, review) => {
    const pod = daemonSet.spec.template.spec;
    const volumes = pod.volumes;
    if (volumes === undefined) return [];
    let containers: ContainerShape[] | undefined;
    const mounts: HostPathMount[] = [];
    const backsteps: string[] = [];
    for (const volume of volumes) {
      if (volume.hostPath === undefined) continue;
      const raw = volume.hostPath.path;
      let clean = raw;
      if (!PLAIN.test(raw)) {
        const parts = raw.split('/');
        if (parts.includes('..')) backsteps.push(`hostPath ${raw} (volume "${volume.name}")`);
        clean = `/${parts.filter((s) => s !== '' && s !== '.').join('/')}`;
      }
      const path = resolvedPath(clean);
      containers ??= containersOf(pod);
      mounts.push({ name: volume.name, raw, readOnly: !mountedWritable(containers, volume.name), path, clean });
    }
    if (mounts.length === 0) return [];

    const violations: HandWrittenViolation[] = [];
    if (backsteps.length > 0) violations.push({ ...violation(NAME, `${backsteps.join(', ')} contains "..", which the kube-apiserver refuses; write the path without it`, DENY), reason: 'Invalid' });

    const notAllowed = mounts.filter((m) => !isAllowed(m.path));
    if (notAllowed.length > 0) {
      violations.push({ ...violation(NAME, `${notAllowed.map(shown).join(', ')}${notAllowed.length === 1 ? ' is' : ' are'}${notAllowedTail}`, DENY), reason: 'Forbidden' });
    }

    const writable = mounts.filter((m) => !m.readOnly && readOnlyPaths.some((p) => m.path === '/' || m.path === p || isBelow(p, m.path)));
    if (writable.length > 0) {
      const described = writable.map((m) => {
        const writers = containers!.filter((c) => c.volumeMounts !== undefined && c.volumeMounts.some((v) => v.name === m.name && v.readOnly !== true));
        return `${shown(m)} is mounted writable by ${writers.map((c) => `container "${c.name}"`).join(', ')}`;
      });
      violations.push({ ...violation(NAME, `${described.join('; ')}${writableTail}`, DENY), reason: 'Forbidden' });
    }

    let exposures: string[] | undefined;
    for (const k of sensitive) {
      if (k.namespaces.has(review.namespace)) continue;
      let hits: HostPathMount[] | undefined;
      for (const m of mounts) {
        if (k.readOnlySuffices && m.readOnly) continue;
        for (const p of k.paths) {
          if (exposes(m.path, p)) {
            (hits ??= []).push(m);
            break;
          }
        }
      }
      if (hits === undefined) continue;
      const hit = hits;
      const exposed = k.paths.filter((p) => hit.some((m) => exposes(m.path, p)));
      (exposures ??= []).push(`${hit.map(shown).join(', ')}${hit.length === 1 ? ' exposes ' : ' expose '}${k.what} (${exposed.join(', ')}${k.tail}`);
    }
    if (exposures !== undefined) violations.push({ ...violation(NAME, `${exposures.join('; ')} (this DaemonSet is in "${review.namespace}")`, DENY), reason: 'Forbidden' });
    return violations;
  });
};
