// The cheap part of the kube-apiserver's validation of an apps/v1 DaemonSet (ValidateDaemonSet in
// k8s.io/kubernetes pkg/apis/apps/validation, with the container checks of pkg/apis/core/validation),
// so that `daemonguard test` says "the cluster would refuse this" instead of evaluating policies on an
// object that could never be stored. Each error is worded as the apiserver words its field errors
// (`<field path>: <type>: <value>: <detail>`); the e2e suite compares them with a real apiserver's.
//
// Checked: the selector (present, not empty, valid operators, matching the template's labels), the
// containers (present; each named, with a DNS-1123 label, uniquely across containers and
// initContainers; each with an image), the pod's restartPolicy (Always only), the tolerations (an
// empty key needs operator Exists, which takes no value; tolerationSeconds needs effect NoExecute;
// known operators and effects), activeDeadlineSeconds (forbidden), and the non-negative counters. The
// object is read as the apiserver would have defaulted it (an absent restartPolicy is Always). Not
// checked: label keys and values (toleration keys and values too), names, volumes, probes, ports,
// resources, the update strategy: the apiserver still refuses those at apply time.
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';

export type FieldPath = readonly (string | number)[];

/** The apiserver's field error types, as they print (field.ErrorType.String()). */
export type FieldErrorType = 'Required value' | 'Invalid value' | 'Unsupported value' | 'Duplicate value' | 'Forbidden';

export interface FieldError {
  /** Where, as segments of the object (for a file:line), and printed as the apiserver does. */
  path: FieldPath;
  type: FieldErrorType;
  /** The offending value, already printed as the apiserver prints it (Go's %q or JSON); absent for Required and Forbidden. */
  value?: string;
  detail: string;
}

/** `spec.template.spec.containers[1].name`: the apiserver's field.Path.String(). */
export function fieldPathString(path: FieldPath): string {
  let text = '';
  for (const segment of path) text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  return text;
}

/** The error without its field, as the apiserver puts it in a Status cause's `message`. */
export function fieldErrorBody(error: FieldError): string {
  const parts: string[] = [error.type];
  if (error.value !== undefined) parts.push(error.value);
  if (error.detail !== '') parts.push(error.detail);
  return parts.join(': ');
}

/** The whole error, as the apiserver prints it in a Status `message`. */
export function formatFieldError(error: FieldError): string {
  return `${fieldPathString(error.path)}: ${fieldErrorBody(error)}`;
}

// ---- printing values as the Go apiserver does -------------------------------------------------------

/** Go's json.Marshal of a string: like JSON.stringify, but with <, > and & escaped (HTML-safe). */
function goJsonString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A map[string]string as Go's encoding/json prints it: keys sorted, null for an absent map. */
function goJsonStringMap(map: Record<string, string> | undefined): string {
  if (map === undefined) return 'null';
  const entries = Object.keys(map)
    .sort()
    .map((key) => `${goJsonString(key)}:${goJsonString(map[key]!)}`);
  return `{${entries.join(',')}}`;
}

/** Go's %q, for printable text (what manifests hold). */
function goQuoted(value: string): string {
  return JSON.stringify(value);
}

// ---- reading the object leniently ---------------------------------------------------------------------
// A field of the wrong JSON type is refused by the apiserver's decoder before validation runs, with its
// own message; here it reads as absent, which is enough to say the object is broken.

function objectAt(value: JsonValue | undefined): JsonObject | undefined {
  return isJsonObject(value) ? value : undefined;
}

function arrayAt(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

function stringAt(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : '';
}

function stringMapAt(value: JsonValue | undefined): Record<string, string> | undefined {
  if (!isJsonObject(value)) return undefined;
  const map: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) map[key] = typeof entry === 'string' ? entry : String(entry);
  return map;
}

// ---- the selector -----------------------------------------------------------------------------------

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
type SelectorOperator = (typeof SELECTOR_OPERATORS)[number];

interface Requirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

function isSelectorOperator(value: string): value is SelectorOperator {
  return (SELECTOR_OPERATORS as readonly string[]).includes(value);
}

function validateSelectorRequirements(selector: JsonObject, path: FieldPath): { errors: FieldError[]; requirements: Requirement[] | undefined } {
  const errors: FieldError[] = [];
  const requirements: Requirement[] = [];
  let usable = true;
  arrayAt(selector.matchExpressions).forEach((entry, index) => {
    const expression = objectAt(entry) ?? {};
    const at = [...path, 'matchExpressions', index];
    const operator = stringAt(expression.operator);
    const values = arrayAt(expression.values).map((value) => stringAt(value));
    if (operator === 'In' || operator === 'NotIn') {
      if (values.length === 0) {
        errors.push({ path: [...at, 'values'], type: 'Required value', detail: "must be specified when `operator` is 'In' or 'NotIn'" });
        usable = false;
      }
    } else if (operator === 'Exists' || operator === 'DoesNotExist') {
      if (values.length > 0) {
        errors.push({ path: [...at, 'values'], type: 'Forbidden', detail: "may not be specified when `operator` is 'Exists' or 'DoesNotExist'" });
        usable = false;
      }
    } else {
      errors.push({ path: [...at, 'operator'], type: 'Invalid value', value: goQuoted(operator), detail: 'not a valid selector operator' });
      usable = false;
    }
    if (isSelectorOperator(operator)) requirements.push({ key: stringAt(expression.key), operator, values });
  });
  return { errors, requirements: usable ? requirements : undefined };
}

function requirementMatches(requirement: Requirement, labels: Record<string, string>): boolean {
  const present = Object.hasOwn(labels, requirement.key);
  switch (requirement.operator) {
    case 'In':
      return present && requirement.values.includes(labels[requirement.key]!);
    case 'NotIn':
      return !present || !requirement.values.includes(labels[requirement.key]!);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
  }
}

/** ValidateDaemonSetSpec's selector checks: a missing selector selects nothing, so it matches no labels. */
function validateSelector(spec: JsonObject): FieldError[] {
  const selector = objectAt(spec.selector);
  const templateLabels = stringMapAt(objectAt(objectAt(spec.template)?.metadata)?.labels);
  const errors: FieldError[] = [];
  let matches = false;
  let comparable = true;
  if (selector !== undefined) {
    const checked = validateSelectorRequirements(selector, ['spec', 'selector']);
    errors.push(...checked.errors);
    const matchLabels = stringMapAt(selector.matchLabels) ?? {};
    if (checked.requirements === undefined) comparable = false;
    else {
      const labels = templateLabels ?? {};
      matches =
        Object.entries(matchLabels).every(([key, value]) => labels[key] === value) && checked.requirements.every((requirement) => requirementMatches(requirement, labels));
    }
  }
  if (comparable && !matches) {
    errors.push({ path: ['spec', 'template', 'metadata', 'labels'], type: 'Invalid value', value: goJsonStringMap(templateLabels), detail: '`selector` does not match template `labels`' });
  }
  if (selector !== undefined && Object.keys(stringMapAt(selector.matchLabels) ?? {}).length + arrayAt(selector.matchExpressions).length === 0) {
    // An empty selector is printed as the Go struct with both fields omitted.
    errors.push({ path: ['spec', 'selector'], type: 'Invalid value', value: '{}', detail: 'empty selector is invalid for daemonset' });
  }
  return errors;
}

// ---- the pod template -----------------------------------------------------------------------------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL_MAX = 63;
const DNS1123_LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character " +
  "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/** IsDNS1123Label's complaints, in its order. */
function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > DNS1123_LABEL_MAX) problems.push(`must be no more than ${DNS1123_LABEL_MAX} characters`);
  if (!DNS1123_LABEL.test(value)) problems.push(DNS1123_SUBDOMAIN.test(value) ? 'must not contain dots' : DNS1123_LABEL_MESSAGE);
  return problems;
}

/** validateContainerCommon's name and image checks. */
function validateContainerBasics(container: JsonObject, path: FieldPath): FieldError[] {
  const errors: FieldError[] = [];
  const name = stringAt(container.name);
  if (name === '') errors.push({ path: [...path, 'name'], type: 'Required value', detail: '' });
  else for (const problem of dns1123LabelProblems(name)) errors.push({ path: [...path, 'name'], type: 'Invalid value', value: goQuoted(name), detail: problem });
  if (stringAt(container.image) === '') errors.push({ path: [...path, 'image'], type: 'Required value', detail: '' });
  return errors;
}

/** validateContainers then validateInitContainers: names are unique across both lists. */
function validateContainers(podSpec: JsonObject, path: FieldPath): FieldError[] {
  const containers = arrayAt(podSpec.containers);
  const errors: FieldError[] = [];
  const names = new Set<string>();
  if (containers.length === 0) errors.push({ path: [...path, 'containers'], type: 'Required value', detail: '' });
  containers.forEach((entry, index) => {
    const container = objectAt(entry) ?? {};
    const at = [...path, 'containers', index];
    errors.push(...validateContainerBasics(container, at));
    const name = stringAt(container.name);
    if (names.has(name)) errors.push({ path: [...at, 'name'], type: 'Duplicate value', value: goQuoted(name), detail: '' });
    else names.add(name);
  });
  arrayAt(podSpec.initContainers).forEach((entry, index) => {
    const container = objectAt(entry) ?? {};
    const at = [...path, 'initContainers', index];
    errors.push(...validateContainerBasics(container, at));
    const name = stringAt(container.name);
    if (names.has(name)) errors.push({ path: [...at, 'name'], type: 'Duplicate value', value: goQuoted(name), detail: '' });
    else if (name !== '') names.add(name);
  });
  return errors;
}

const POD_RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];

function supportedValues(values: readonly string[]): string {
  return `supported values: ${values.map((value) => goQuoted(value)).join(', ')}`;
}

const TOLERATION_OPERATORS = ['Equal', 'Exists'];
/** Lt and Gt depend on a feature gate (TaintTolerationComparisonOperators): left to the apiserver. */
const GATED_TOLERATION_OPERATORS = ['Lt', 'Gt'];
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/**
 * ValidateTolerations without the format of keys and values. A toleration written as null decodes to
 * the empty one, which has no key and so must have operator Exists.
 */
function validateTolerations(podSpec: JsonObject, path: FieldPath): FieldError[] {
  const errors: FieldError[] = [];
  arrayAt(podSpec.tolerations).forEach((entry, index) => {
    const toleration = objectAt(entry) ?? {};
    const at = [...path, 'tolerations', index];
    const [key, operator, value, effect] = [stringAt(toleration.key), stringAt(toleration.operator), stringAt(toleration.value), stringAt(toleration.effect)];
    if (key === '' && operator !== 'Exists') {
      errors.push({ path: [...at, 'operator'], type: 'Invalid value', value: goQuoted(operator), detail: 'operator must be Exists when `key` is empty, which means "match all values and all keys"' });
    }
    if (toleration.tolerationSeconds !== undefined && toleration.tolerationSeconds !== null && effect !== 'NoExecute') {
      errors.push({ path: [...at, 'effect'], type: 'Invalid value', value: goQuoted(effect), detail: "effect must be 'NoExecute' when `tolerationSeconds` is set" });
    }
    if (operator === 'Exists' && value !== '') {
      errors.push({ path: [...at, 'operator'], type: 'Invalid value', value: goQuoted(value), detail: "value must be empty when `operator` is 'Exists'" });
    } else if (operator !== '' && !TOLERATION_OPERATORS.includes(operator) && !GATED_TOLERATION_OPERATORS.includes(operator)) {
      errors.push({ path: [...at, 'operator'], type: 'Unsupported value', value: goQuoted(operator), detail: supportedValues(TOLERATION_OPERATORS) });
    }
    if (effect !== '' && !TAINT_EFFECTS.includes(effect)) {
      errors.push({ path: [...at, 'effect'], type: 'Unsupported value', value: goQuoted(effect), detail: supportedValues(TAINT_EFFECTS) });
    }
  });
  return errors;
}

function validatePodTemplate(spec: JsonObject): FieldError[] {
  const path = ['spec', 'template', 'spec'];
  const podSpec = objectAt(objectAt(spec.template)?.spec) ?? {};
  const errors = validateContainers(podSpec, path);
  // Defaulting sets an absent or empty restartPolicy to Always.
  const restartPolicy = stringAt(podSpec.restartPolicy) || 'Always';
  if (!POD_RESTART_POLICIES.includes(restartPolicy)) {
    errors.push({ path: [...path, 'restartPolicy'], type: 'Unsupported value', value: goQuoted(restartPolicy), detail: supportedValues(POD_RESTART_POLICIES) });
  }
  errors.push(...validateTolerations(podSpec, path));
  if (restartPolicy !== 'Always') {
    errors.push({ path: [...path, 'restartPolicy'], type: 'Unsupported value', value: goQuoted(restartPolicy), detail: supportedValues(['Always']) });
  }
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null) {
    errors.push({ path: [...path, 'activeDeadlineSeconds'], type: 'Forbidden', detail: 'activeDeadlineSeconds in DaemonSet is not Supported' });
  }
  return errors;
}

function validateNonNegative(spec: JsonObject, field: string): FieldError[] {
  const value = spec[field];
  if (typeof value !== 'number' || value >= 0) return [];
  return [{ path: ['spec', field], type: 'Invalid value', value: String(value), detail: 'must be greater than or equal to 0' }];
}

/**
 * The errors the kube-apiserver would refuse this apps/v1 DaemonSet with (the checks listed at the
 * top of this file), in the apiserver's order; empty when none of them applies.
 */
export function validateDaemonSet(daemonSet: JsonObject): FieldError[] {
  // A missing spec is an empty one to the apiserver: no selector, no template, no containers.
  const spec = objectAt(daemonSet.spec) ?? {};
  return [
    ...validateSelector(spec),
    ...validatePodTemplate(spec),
    ...validateNonNegative(spec, 'minReadySeconds'),
    ...validateNonNegative(spec, 'revisionHistoryLimit'),
  ];
}
