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
  readonly name: string;
  readonly kind: Kind;
  readonly omitEmpty: boolean;
  readonly omitZero: boolean;
  readonly pointer: boolean;
  /** Struct type name, or for slices and maps the element as "kind:ref". */
  readonly ref: string;
  /** A slice's or map's element, taken apart once. */
  readonly elementKind: Kind;
  readonly elementRef: string;
  /** A quantity map that defaulting rounds up to milli precision (MILLI_ROUNDED). */
  readonly milliRounded: boolean;
}

/** A Go type's fields in their declaration order (the order encoding/json prints them), and by name. */
interface TypeShape {
  readonly fields: readonly FieldShape[];
  readonly byName: ReadonlySet<string>;
}

const TYPES = (shape as { types: Record<string, Record<string, string>> }).types;
const parsedTypes = new Map<string, TypeShape>();

/**
 * ResourceLists that defaulting rounds up to milli precision (SetDefaults_ResourceList): container and
 * pod resources, pod overhead, and the resources of an ephemeral volume's claim template.
 */
const MILLI_ROUNDED = new Set(['ResourceRequirements.limits', 'ResourceRequirements.requests', 'VolumeResourceRequirements.limits', 'VolumeResourceRequirements.requests', 'PodSpec.overhead']);

function typeShapeOf(typeName: string): TypeShape {
  let type = parsedTypes.get(typeName);
  if (type) return type;
  const raw = TYPES[typeName];
  if (!raw) throw new Error(`no Go shape for type ${typeName}`);
  const fields = Object.entries(raw).map(([name, spec]): FieldShape => {
    const [kind, flags, ref] = spec.split('|') as [Kind, string, string];
    const colon = ref.indexOf(':');
    return {
      name,
      kind,
      omitEmpty: flags.includes('o'),
      omitZero: flags.includes('z'),
      pointer: flags.includes('p'),
      ref,
      elementKind: (colon < 0 ? '' : ref.slice(0, colon)) as Kind,
      elementRef: colon < 0 ? '' : ref.slice(colon + 1),
      milliRounded: MILLI_ROUNDED.has(`${typeName}.${name}`),
    };
  });
  type = { fields, byName: new Set(fields.map((field) => field.name)) };
  parsedTypes.set(typeName, type);
  return type;
}

/** A JSON pointer's token for `key` (RFC 6901). */
function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
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

// Paths (JSON pointers, for unknownFields) are written only where they are used: into a value that is
// there, or for a field that is unknown. Most of a type's fields are absent from a given object, and
// writing a path for each was the larger part of the encoder's time (`daemonguard test` runs it four
// times per manifest).
class Encoder {
  readonly unknownFields: string[] = [];

  struct(typeName: string, input: JsonValue | undefined, path: string): JsonObject {
    const { fields, byName } = typeShapeOf(typeName);
    const source = isJsonObject(input) ? input : {};
    const out: JsonObject = {};
    for (const key in source) {
      if (Object.hasOwn(source, key) && !byName.has(key)) this.unknownFields.push(`${path}/${pointerToken(key)}`);
    }
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      const raw = Object.hasOwn(source, field.name) ? source[field.name] : undefined;
      const encoded = this.field(field, raw === null ? undefined : raw, path);
      if (encoded !== undefined) out[field.name] = encoded;
    }
    return out;
  }

  /** Field `field` of a struct at `parent`, whose value is `value` (undefined when absent or null). */
  private field(field: FieldShape, value: JsonValue | undefined, parent: string): JsonValue | undefined {
    if (value === undefined) {
      // Absent (or null): a nil pointer, slice or map, or the zero value of a scalar or struct.
      if (field.pointer || field.kind === 'slice' || field.kind === 'map' || field.kind === 'raw') {
        return field.omitEmpty || field.omitZero ? undefined : null;
      }
      if (field.kind === 'struct') return this.struct(field.ref, undefined, `${parent}/${field.name}`);
      if (field.kind === 'time') return field.omitZero ? undefined : null;
      const zero = zeroOf(field.kind);
      // encoding/json never omits a struct-typed value (Quantity, IntOrString) for omitempty.
      if (field.omitEmpty && field.kind !== 'quantity' && field.kind !== 'intstr') return undefined;
      return zero;
    }
    switch (field.kind) {
      case 'struct':
        return this.struct(field.ref, value, `${parent}/${field.name}`);
      case 'slice': {
        if (!Array.isArray(value)) return value;
        if (value.length === 0 && field.omitEmpty) return undefined;
        const path = `${parent}/${field.name}`;
        const out = new Array<JsonValue>(value.length);
        for (let index = 0; index < value.length; index++) out[index] = this.element(field, value[index]!, path, String(index));
        return out;
      }
      case 'map': {
        if (!isJsonObject(value)) return value;
        const keys = Object.keys(value);
        if (keys.length === 0 && field.omitEmpty) return undefined;
        const path = `${parent}/${field.name}`;
        const out: JsonObject = {};
        // Go prints map keys sorted.
        for (const key of keys.sort()) out[key] = this.element(field, value[key]!, path, pointerToken(key));
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

  /** An element of slice or map `field` at `parent`, under `token` (its index or its key as a pointer token). */
  private element(field: FieldShape, value: JsonValue, parent: string, token: string): JsonValue {
    const kind = field.elementKind;
    if (value === null) return kind === 'struct' ? this.struct(field.elementRef, undefined, `${parent}/${token}`) : zeroOf(kind);
    switch (kind) {
      case 'struct':
        return this.struct(field.elementRef, value, `${parent}/${token}`);
      case 'quantity':
        return canonicalQuantity(value, field.milliRounded) ?? value;
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
