#!/usr/bin/env node
// Regenerates src/cel/k8s-types.generated.json: the CEL field types of an apps/v1 DaemonSet and a
// core/v1 Namespace, derived from Kubernetes' own OpenAPI v3 documents. Policies are type-checked
// against these types at load, so a misspelt field is a load error instead of a runtime surprise.
//
// The OpenAPI documents ship in the k8s.io/kubernetes Go module (api/openapi-spec/v3/); this script
// asks the Go tool for the module and reads them from the module cache.
//   node scripts/generate-k8s-types.mjs [kubernetes-version]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const version = process.argv[2] ?? 'v1.37.2';
const info = JSON.parse(
  execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], { encoding: 'utf8' }),
);
const specDir = join(info.Dir, 'api', 'openapi-spec', 'v3');
const schemas = {
  ...JSON.parse(readFileSync(join(specDir, 'api__v1_openapi.json'), 'utf8')).components.schemas,
  ...JSON.parse(readFileSync(join(specDir, 'apis__apps__v1_openapi.json'), 'utf8')).components.schemas,
};

const roots = {
  DaemonSet: 'io.k8s.api.apps.v1.DaemonSet',
  Namespace: 'io.k8s.api.core.v1.Namespace',
};

// Kubernetes' CEL maps these well-known string formats to richer types; daemonguard keeps them as
// their JSON representation (strings) and offers quantity()/timestamp() conversions instead.
const opaque = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': 'dyn',
  'io.k8s.apimachinery.pkg.api.resource.Quantity': 'string',
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': 'string',
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': 'string',
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': 'dyn',
  'io.k8s.apimachinery.pkg.runtime.RawExtension': 'dyn',
};

const shortName = (full) => full.split('.').pop();
const types = {};
// How server-side apply merges each type (structured-merge-diff, as the apiserver builds its schema
// from the same OpenAPI): only what differs from the defaults (structs and maps merge field by field,
// lists without x-kubernetes-list-type are atomic) plus every list's kind, for
// src/engine/apply-configuration.ts.
const merge = {};

/** A field's merge rule: `atomic`, `set` or `map` (with its keys) for lists, `atomic` for maps. */
function mergeRuleOf(schema) {
  if (schema.type === 'array') {
    const listType = schema['x-kubernetes-list-type'] ?? 'atomic';
    if (listType === 'map') return { list: 'map', keys: schema['x-kubernetes-list-map-keys'] ?? [] };
    return { list: listType };
  }
  if (schema['x-kubernetes-map-type'] === 'atomic') return { map: 'atomic' };
  return undefined;
}
const fullNameOf = {};

function refOf(schema) {
  if (schema.$ref) return schema.$ref.replace('#/components/schemas/', '');
  if (schema.allOf && schema.allOf.length === 1 && schema.allOf[0].$ref) return refOf(schema.allOf[0]);
  return undefined;
}

function typeOf(schema) {
  const ref = refOf(schema);
  if (ref) return namedType(ref);
  if (schema['x-kubernetes-int-or-string']) return 'dyn';
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
      return 'int';
    case 'boolean':
      return 'bool';
    // JSON numbers arrive as CEL int when integral, so a schema `number` cannot be typed statically.
    case 'number':
      return 'dyn';
    case 'array':
      return `list<${typeOf(schema.items ?? {})}>`;
    case 'object':
      if (schema.properties) throw new Error('inline object schemas are not expected in the API types');
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        return `map<string, ${typeOf(schema.additionalProperties)}>`;
      }
      return 'map<string, dyn>';
    default:
      return 'dyn';
  }
}

function namedType(full) {
  if (opaque[full]) return opaque[full];
  const schema = schemas[full];
  if (!schema) throw new Error(`schema ${full} not found`);
  if (!schema.properties) return typeOf(schema);
  const name = shortName(full);
  if (fullNameOf[name] && fullNameOf[name] !== full) throw new Error(`short name clash: ${name}`);
  if (!fullNameOf[name]) {
    fullNameOf[name] = full;
    types[name] = null; // placeholder breaks cycles
    const fields = {};
    const rules = {};
    const defaults = {};
    for (const [field, fieldSchema] of Object.entries(schema.properties)) {
      fields[field] = typeOf(fieldSchema);
      const rule = mergeRuleOf(fieldSchema);
      if (rule) rules[field] = rule;
      // A list-map key may be omitted when the schema defaults it (ports' protocol: TCP).
      if (fieldSchema.default !== undefined && typeof fieldSchema.default !== 'object') defaults[field] = fieldSchema.default;
    }
    types[name] = fields;
    merge[name] = {
      ...(schema['x-kubernetes-map-type'] === 'atomic' ? { atomic: true } : {}),
      ...(Object.keys(rules).length ? { fields: rules } : {}),
      ...(Object.keys(defaults).length ? { defaults } : {}),
    };
  }
  return name;
}

for (const root of Object.values(roots)) namedType(root);

const out = {
  $comment: `Generated by scripts/generate-k8s-types.mjs from Kubernetes ${version} OpenAPI v3. Do not edit.`,
  kubernetesVersion: version,
  roots: Object.fromEntries(Object.keys(roots).map((k) => [k, k])),
  types,
};
const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cel', 'k8s-types.generated.json');
writeFileSync(target, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${Object.keys(types).length} types to ${target}`);

const mergeTarget = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cel', 'apply-schema.generated.json');
const mergeOut = {
  $comment: `Generated by scripts/generate-k8s-types.mjs from Kubernetes ${version} OpenAPI v3. Do not edit. How server-side apply merges each type of k8s-types.generated.json: atomic types, list kinds (atomic, set, map with keys), atomic maps, scalar defaults (for list-map keys).`,
  kubernetesVersion: version,
  types: Object.fromEntries(Object.entries(merge).filter(([, rule]) => Object.keys(rule).length > 0).sort(([a], [b]) => a.localeCompare(b))),
};
writeFileSync(mergeTarget, JSON.stringify(mergeOut, null, 1) + '\n');
console.log(`wrote the merge rules of ${Object.keys(mergeOut.types).length} types to ${mergeTarget}`);
