// Re-encoding a DaemonSet the way the kube-apiserver's Go types print it.
//
// A webhook receives the object after the apiserver decoded the request into Go structs and encoded
// them again. Decoding drops unknown fields and turns `null` into zero values; encoding drops the zero
// values of `omitempty` fields (`hostNetwork: false`, `minReadySeconds: 0`, `args: []`), always
// prints non-pointer structs (`resources: {}`, `status` with its four counters) and required
// scalars, and prints quantities and times in their canonical form. The Go types' JSON shape comes
// from daemonset-shape.generated.json (scripts/daemonset-shape, from k8s.io/api).
import shape from './daemonset-shape.generated.json' with { type: 'json' };
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';
import { canonicalQuantity } from '../common/quantity.js';

type Kind = 'string' | 'int' | 'float' | 'bool' | 'quantity' | 'intstr' | 'time' | 'raw' | 'struct' | 'slice' | 'map';

interface FieldShape {
  kind: Kind;
  omitEmpty: boolean;
  omitZero: boolean;
  pointer: boolean;
  /** Struct type name, or for slices and maps the element as "kind:ref". */
  ref: string;
}

const TYPES = (shape as { types: Record<string, Record<string, string>> }).types;
const parsedTypes = new Map<string, Map<string, FieldShape>>();

/**
 * ResourceLists that defaulting rounds up to milli precision (SetDefaults_ResourceList): container and
 * pod resources, pod overhead, and the resources of an ephemeral volume's claim template.
 */
const MILLI_ROUNDED = new Set(['ResourceRequirements.limits', 'ResourceRequirements.requests', 'VolumeResourceRequirements.limits', 'VolumeResourceRequirements.requests', 'PodSpec.overhead']);

function fieldsOf(typeName: string): Map<string, FieldShape> {
  let fields = parsedTypes.get(typeName);
  if (fields) return fields;
  const raw = TYPES[typeName];
  if (!raw) throw new Error(`no Go shape for type ${typeName}`);
  fields = new Map();
  for (const [name, spec] of Object.entries(raw)) {
    const [kind, flags, ref] = spec.split('|') as [Kind, string, string];
    fields.set(name, { kind, omitEmpty: flags.includes('o'), omitZero: flags.includes('z'), pointer: flags.includes('p'), ref });
  }
  parsedTypes.set(typeName, fields);
  return fields;
}

export interface GoEncoding {
  value: JsonObject;
  /** JSON pointers of fields the Go types do not have (the apiserver drops them, or refuses them under strict field validation). */
  unknownFields: string[];
}

function zeroOf(kind: Kind): JsonValue {
  switch (kind) {
    case 'string':
      return '';
    case 'int':
    case 'float':
    case 'intstr':
      return 0;
    case 'bool':
      return false;
    case 'quantity':
      return '0';
    default:
      return null;
  }
}

function isZeroScalar(value: JsonValue): boolean {
  return value === '' || value === 0 || value === false || value === null;
}

/** metav1.Time prints RFC 3339 in UTC with whole seconds. */
function formatTime(value: JsonValue): JsonValue {
  if (typeof value !== 'string') return value;
  const time = Date.parse(value);
  if (Number.isNaN(time)) return value;
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

class Encoder {
  readonly unknownFields: string[] = [];

  struct(typeName: string, input: JsonValue | undefined, path: string): JsonObject {
    const fields = fieldsOf(typeName);
    const source = isJsonObject(input) ? input : {};
    const out: JsonObject = {};
    for (const key of Object.keys(source)) {
      if (!fields.has(key)) this.unknownFields.push(`${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
    for (const [name, field] of fields) {
      const raw = source[name];
      const value = raw === undefined || raw === null ? undefined : raw;
      const encoded = this.field(typeName, name, field, value, `${path}/${name}`);
      if (encoded !== undefined) out[name] = encoded;
    }
    return out;
  }

  private field(owner: string, name: string, field: FieldShape, value: JsonValue | undefined, path: string): JsonValue | undefined {
    if (value === undefined) {
      // Absent (or null): a nil pointer, slice or map, or the zero value of a scalar or struct.
      if (field.pointer || field.kind === 'slice' || field.kind === 'map' || field.kind === 'raw') {
        return field.omitEmpty || field.omitZero ? undefined : null;
      }
      if (field.kind === 'struct') return this.struct(field.ref, undefined, path);
      if (field.kind === 'time') return field.omitZero ? undefined : null;
      const zero = zeroOf(field.kind);
      // encoding/json never omits a struct-typed value (Quantity, IntOrString) for omitempty.
      if (field.omitEmpty && field.kind !== 'quantity' && field.kind !== 'intstr') return undefined;
      return zero;
    }
    switch (field.kind) {
      case 'struct':
        return this.struct(field.ref, value, path);
      case 'slice': {
        if (!Array.isArray(value)) return value;
        if (value.length === 0 && field.omitEmpty) return undefined;
        return value.map((item, index) => this.element(owner, name, field.ref, item, `${path}/${index}`));
      }
      case 'map': {
        if (!isJsonObject(value)) return value;
        const keys = Object.keys(value);
        if (keys.length === 0 && field.omitEmpty) return undefined;
        const out: JsonObject = {};
        // Go prints map keys sorted.
        for (const key of keys.sort()) out[key] = this.element(owner, name, field.ref, value[key]!, `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
        return out;
      }
      case 'quantity':
        return canonicalQuantity(value, false) ?? value;
      case 'time':
        return formatTime(value);
      case 'raw':
      case 'intstr':
        return value;
      default:
        if (!field.pointer && field.omitEmpty && isZeroScalar(value)) return undefined;
        return value;
    }
  }

  private element(owner: string, name: string, elementSpec: string, value: JsonValue, path: string): JsonValue {
    const colon = elementSpec.indexOf(':');
    const kind = elementSpec.slice(0, colon) as Kind;
    const ref = elementSpec.slice(colon + 1);
    if (value === null) return kind === 'struct' ? this.struct(ref, undefined, path) : zeroOf(kind);
    switch (kind) {
      case 'struct':
        return this.struct(ref, value, path);
      case 'quantity':
        return canonicalQuantity(value, MILLI_ROUNDED.has(`${owner}.${name}`)) ?? value;
      case 'time':
        return formatTime(value);
      default:
        return value;
    }
  }
}

/**
 * Decodes `object` into the Go type `typeName` (default: the DaemonSet) and encodes it again, as the
 * apiserver does before calling webhooks. Pure: returns new objects.
 */
export function reencodeAsGo(object: JsonObject, typeName = 'DaemonSet'): GoEncoding {
  const encoder = new Encoder();
  const value = encoder.struct(typeName, object, '');
  return { value, unknownFields: encoder.unknownFields };
}
