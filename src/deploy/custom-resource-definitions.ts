// The CustomResourceDefinitions of daemonguard's own kinds, generated from the JSON Schemas in
// schema/ that the policy loader checks documents with, so a policy the apiserver accepts and one the
// loader accepts are described once. `daemonguard manifests --crds` prints them; deploy/base/crds and
// the Helm chart's crds/ hold copies that a test compares with this output
// (`npm run deploy:crds` rewrites them).
//
// A CRD's openAPIV3Schema must be structural (the apiserver refuses it otherwise), which an editor's
// JSON Schema is not. The translation:
// - `$ref`s are inlined (CRD schemas have no references), `$schema`, `$id` and `definitions` dropped;
// - `const` becomes a one-value `enum`, and every node gets a `type` (from its enum's values);
// - `additionalProperties: false` is dropped: the apiserver prunes unknown fields anyway (kubectl
//   reports them as "unknown field" warnings), and a CRD may not combine it with `properties`;
// - `uniqueItems` (refused: quadratic to check) becomes `x-kubernetes-list-type: set`;
// - free-form data (`params`, a default's `value`) keeps unknown fields (x-kubernetes-preserve-unknown-fields);
// - `metadata` may only constrain `name`: the policy name's DNS-label rule is kept, the rest goes;
// - the document's `apiVersion` and `kind` are the apiserver's business and are left out.
import { readPackageJson } from '../common/package-root.js';

export const API_GROUP = 'daemonguard.dev';
export const API_VERSION = 'v1alpha1';

type Schema = Record<string, unknown>;

/** What differs between daemonguard's kinds; everything else about their CRDs is the same. */
export interface CustomResourceKind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Cluster' | 'Namespaced';
  /** The file under schema/ the loader checks documents of this kind with. */
  schemaFile: string;
  /** What `kubectl explain <kind>` says (the schema's own description speaks to editors). */
  description: string;
  /** Columns after NAME (AGE is appended). */
  columns: PrinterColumn[];
  /** Status fields of this kind only, beside the ones every kind has. */
  statusProperties?: Record<string, Schema>;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  description: string;
  priority?: number;
}

const READY_COLUMN: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'True when the object loaded and type-checked on the serving replicas.',
};

/** Every kind daemonguard serves as a custom resource. A new kind is one entry here. */
export const CUSTOM_RESOURCE_KINDS: readonly CustomResourceKind[] = [
  {
    kind: 'DaemonSetPolicy',
    plural: 'daemonsetpolicies',
    singular: 'daemonsetpolicy',
    shortNames: ['dsp'],
    scope: 'Cluster',
    schemaFile: 'daemonsetpolicy.schema.json',
    description:
      'A daemonguard policy for apps/v1 DaemonSets: which DaemonSets it applies to (match, matchConditions), CEL validations and ' +
      'mutations, and params. Enforced by `daemonguard serve --policies-from-cluster` once status.conditions Ready is True.',
    columns: [
      { name: 'Actions', type: 'string', jsonPath: '.spec.validationActions', description: 'What a failed validation does (Deny, Warn, Audit).' },
      READY_COLUMN,
      { name: 'Would-Deny', type: 'integer', jsonPath: '.status.impact.wouldDeny', description: 'DaemonSets in the cluster that violate it (background audit): what Deny would refuse.' },
      { name: 'Expressions', type: 'integer', jsonPath: '.status.expressions', description: 'CEL expressions compiled.', priority: 1 },
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Why the policy is not ready.', priority: 1 },
    ],
    statusProperties: {
      impact: {
        type: 'object',
        description:
          'From the last background audit (serve --audit-interval): what this policy does to the DaemonSets already in the cluster, whatever its validationActions.',
        required: ['wouldDeny', 'wouldWarn', 'sample'],
        properties: {
          wouldDeny: { type: 'integer', format: 'int32', description: 'DaemonSets that violate it (an excepted one does not): those Deny would refuse on their next update.' },
          wouldWarn: { type: 'integer', format: 'int32', description: 'Those of them it warns about as configured now (validationActions include Warn).' },
          sample: { type: 'array', maxItems: 5, items: { type: 'string' }, description: 'The first of them (sorted), as namespace/name.' },
        },
      },
    },
  },
  {
    kind: 'DaemonSetPolicyException',
    plural: 'daemonsetpolicyexceptions',
    singular: 'daemonsetpolicyexception',
    shortNames: ['dspx'],
    scope: 'Namespaced',
    schemaFile: 'daemonsetpolicyexception.schema.json',
    description:
      'Lets DaemonSets of its own namespace through the named DaemonSetPolicies (their violations neither deny nor warn; the answer ' +
      'says which exception applied), until it expires. Who may create these in a namespace may grant exceptions there.',
    columns: [
      { name: 'Policies', type: 'string', jsonPath: '.spec.policies', description: 'The policies excepted.' },
      { name: 'Expires', type: 'string', jsonPath: '.spec.expires', description: 'When the exception stops applying.' },
      READY_COLUMN,
      { name: 'Reason', type: 'string', jsonPath: '.spec.reason', description: 'Why it was granted.', priority: 1 },
    ],
  },
];

/** The status daemonguard writes; the same for every kind. */
const STATUS_SCHEMA: Schema = {
  type: 'object',
  description: 'Written by the daemonguard replica that holds the leader Lease.',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', description: 'The metadata.generation this status describes.' },
    expressions: { type: 'integer', format: 'int32', description: 'How many CEL expressions the object compiled to (0 when it did not load).' },
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: { type: 'string', description: 'Ready: the object loaded and type-checked, and is being enforced.' },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string' },
          message: { type: 'string', description: 'The load errors: field path, line (of the object as daemonguard renders it, see the README) and caret.' },
          observedGeneration: { type: 'integer', format: 'int64' },
          lastTransitionTime: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
};

function typeOfValues(values: readonly unknown[]): string | undefined {
  const types = new Set(values.map((value) => (Number.isInteger(value) ? 'integer' : typeof value)));
  return types.size === 1 ? [...types][0] : undefined;
}

/** Resolves a local `#/definitions/x` reference. */
function resolveReference(root: Schema, reference: string): Schema {
  const match = /^#\/definitions\/([^/]+)$/.exec(reference);
  const target = match === null ? undefined : (root.definitions as Record<string, Schema> | undefined)?.[match[1]!];
  if (target === undefined) throw new Error(`cannot resolve the schema reference ${reference}`);
  return target;
}

/** One node of an editor's JSON Schema as a structural CRD schema node. */
function structural(root: Schema, node: Schema, path: string): Schema {
  let merged: Schema = node;
  if (typeof node.$ref === 'string') {
    // A reference's siblings (a description) refine the referenced schema.
    const { $ref, ...siblings } = node;
    merged = { ...resolveReference(root, $ref as string), ...siblings };
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(merged)) {
    switch (key) {
      case '$ref':
      case '$schema':
      case '$id':
      case 'definitions':
      case 'title':
        break;
      case 'additionalProperties':
        if (typeof value === 'object' && value !== null) out.additionalProperties = structural(root, value as Schema, `${path}.*`);
        break;
      case 'uniqueItems':
        if (value === true) out['x-kubernetes-list-type'] = 'set';
        break;
      case 'const':
        out.enum = [value];
        break;
      case 'properties':
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, Schema>).map(([name, property]) => [name, structural(root, property, `${path}.${name}`)]),
        );
        break;
      case 'items':
        out.items = structural(root, value as Schema, `${path}[]`);
        break;
      case 'oneOf':
      case 'anyOf':
      case 'allOf':
        // Branches of a structural schema may only add value checks (here: which field is required).
        out[key] = (value as Schema[]).map((branch) => {
          const extra = Object.keys(branch).filter((field) => field !== 'required');
          if (extra.length > 0) throw new Error(`${path}: ${key} branches may only use "required" in a CRD schema (found ${extra.join(', ')})`);
          return branch;
        });
        break;
      default:
        out[key] = value;
    }
  }
  if (out.type === undefined) {
    const fromEnum = Array.isArray(out.enum) ? typeOfValues(out.enum) : undefined;
    if (fromEnum !== undefined) out.type = fromEnum;
    else out['x-kubernetes-preserve-unknown-fields'] = true; // any JSON value (a default's `value`)
  } else if (out.type === 'object' && out.properties === undefined && out.additionalProperties === undefined) {
    out['x-kubernetes-preserve-unknown-fields'] = true; // free-form data such as `params`
  }
  return out;
}

/** The structural openAPIV3Schema for a kind, from its JSON Schema (which must describe `spec`). */
export function crdSchema(documentSchema: Schema, description: string, statusProperties: Record<string, Schema> = {}): Schema {
  const properties = documentSchema.properties as Record<string, Schema> | undefined;
  const spec = properties?.spec;
  if (spec === undefined) throw new Error('the document schema has no "spec"');
  const name = (properties?.metadata?.properties as Record<string, Schema> | undefined)?.name;
  const metadata: Schema = { type: 'object' };
  if (name !== undefined) {
    metadata.properties = { name: { type: 'string', ...(typeof name.pattern === 'string' ? { pattern: name.pattern } : {}), ...(name.maxLength === undefined ? {} : { maxLength: name.maxLength }) } };
  }
  return {
    type: 'object',
    description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata,
      spec: structural(documentSchema, spec, 'spec'),
      status: { ...STATUS_SCHEMA, properties: { ...(STATUS_SCHEMA.properties as Record<string, Schema>), ...statusProperties } },
    },
  };
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: Schema;
}

export function renderCustomResourceDefinition(kind: CustomResourceKind, documentSchema: Schema): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.plural}.${API_GROUP}`, labels: { 'app.kubernetes.io/name': 'daemonguard' } },
    spec: {
      group: API_GROUP,
      scope: kind.scope,
      names: { kind: kind.kind, listKind: `${kind.kind}List`, plural: kind.plural, singular: kind.singular, shortNames: kind.shortNames, categories: ['daemonguard'] },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...kind.columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'When the object was created.' },
          ],
          schema: { openAPIV3Schema: crdSchema(documentSchema, kind.description, kind.statusProperties) },
        },
      ],
    },
  };
}

/** Every CRD, from the schemas shipped in the package. */
export function renderCustomResourceDefinitions(): CustomResourceDefinition[] {
  return CUSTOM_RESOURCE_KINDS.map((kind) => renderCustomResourceDefinition(kind, readPackageJson('schema', kind.schemaFile) as Schema));
}
