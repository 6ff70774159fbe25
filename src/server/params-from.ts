// `spec.paramsFrom` of a DaemonSetPolicy object: a ConfigMap in daemonguard's own namespace whose keys
// override `spec.params`. Resolved before the policy is compiled, so the values go through the same
// load-time type check as params written in the policy, and the built-in library can be installed
// unchanged and configured by values.
//
// Why a ConfigMap in daemonguard's namespace, not a reference to any namespace nor a parameters kind of
// our own: ConfigMaps are what kustomize generators, Helm values and GitOps already produce; reading
// them in one namespace needs a Role there, not cluster-wide read access to every ConfigMap (which
// often hold credentials by mistake); and who may edit that namespace may already change daemonguard.
// Values are YAML, so `allowedPorts: "[9100, 9256]"` is a list of numbers and `maxUnavailable: 10%`
// a string.

import { parse } from 'yaml';
import type { FieldPath } from '../common/yaml-documents.js';
import type { ClusterObject } from './cluster-policy-store.js';

export interface ParamsProblem {
  /** Where in the object, e.g. spec.paramsFrom.configMap. */
  path: FieldPath;
  message: string;
}

/** The object with its params overridden and paramsFrom removed, or why that cannot be done. */
export function resolveParamsFrom(
  object: ClusterObject,
  configMaps: ReadonlyMap<string, Readonly<Record<string, string>>>,
  namespace: string,
): { object: ClusterObject; problems: ParamsProblem[] } {
  const spec = object.spec as { params?: Record<string, unknown>; paramsFrom?: { configMap?: unknown; optional?: unknown } } | undefined;
  if (spec?.paramsFrom === undefined) return { object, problems: [] };
  const { paramsFrom, ...rest } = spec;
  const name = String(paramsFrom.configMap);
  const data = configMaps.get(name);
  if (data === undefined) {
    if (paramsFrom.optional === true) return { object: { ...object, spec: rest }, problems: [] };
    return { object, problems: [{ path: ['spec', 'paramsFrom', 'configMap'], message: `ConfigMap ${namespace}/${name} does not exist (or daemonguard may not read it)` }] };
  }
  const declared = rest.params ?? {};
  const params: Record<string, unknown> = { ...declared };
  const problems: ParamsProblem[] = [];
  for (const [key, text] of Object.entries(data)) {
    if (!Object.hasOwn(declared, key)) {
      const known = Object.keys(declared);
      problems.push({ path: ['spec', 'paramsFrom', 'configMap'], message: `ConfigMap ${namespace}/${name} has key "${key}", which is not a parameter of spec.params (declared: ${known.length > 0 ? known.join(', ') : 'none'})` });
      continue;
    }
    try {
      // defineProperty: a key such as __proto__ stays a plain entry.
      Object.defineProperty(params, key, { value: parse(text) as unknown, enumerable: true, writable: true, configurable: true });
    } catch (error) {
      problems.push({ path: ['spec', 'paramsFrom', 'configMap'], message: `ConfigMap ${namespace}/${name} key "${key}" is not YAML: ${(error as Error).message.split('\n')[0]}` });
    }
  }
  if (problems.length > 0) return { object, problems };
  return { object: { ...object, spec: { ...rest, params } }, problems: [] };
}
