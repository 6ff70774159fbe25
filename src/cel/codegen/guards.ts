// The runtime tests under which the interpreter would pick the overload the checker picked, written
// as generated source over a temporary: a `typeof` for a primitive, instead of a call per operand.
import type { Emitter, Source } from './emitter.js';
import { isPlainMap } from './runtime.js';
import { Optional } from '@marcbachmann/cel-js';

/** A type parameter (`A`, `T`, ...) or dyn: any value resolves to the same overload. */
const TYPE_PARAMETER = /^([A-Z]|dyn)$/;

const PRIMITIVE_TYPEOF: Readonly<Record<string, string>> = {
  string: 'string',
  int: 'bigint',
  bool: 'boolean',
  double: 'number',
};

/**
 * The test (source over `value`) under which a value of a parameter of type `type` resolves to the
 * checked overload, or undefined when there is no cheap such test (the call then always goes through
 * the interpreter's overload resolution).
 */
export function guardSource(type: string, operand: { src: Source; typeOf?: string }, emitter: Emitter): Source | undefined {
  const value = operand.src;
  const primitive = PRIMITIVE_TYPEOF[type];
  // A literal's type is known: its test is settled here.
  if (primitive) return operand.typeOf === primitive ? 'true' : `typeof ${value} === '${primitive}'`;
  if (TYPE_PARAMETER.test(type)) return 'true';
  if (type.startsWith('optional<')) return `${value} instanceof ${emitter.constant(Optional)}`;
  const list = /^list<(.+)>$/.exec(type);
  if (list && TYPE_PARAMETER.test(list[1]!)) return `Array.isArray(${value})`;
  if (/^map<([A-Z]|dyn), ([A-Z]|dyn)>$/.test(type)) return `(${emitter.constant(isPlainMap)}(${value}) || ${value} instanceof Map)`;
  if (list) {
    const element = PRIMITIVE_TYPEOF[list[1]!];
    // A list of a primitive type: the interpreter types the list by its first element; an empty list
    // could match another overload (sum() of ints or of doubles), so it takes the slow path.
    if (element) return `(Array.isArray(${value}) && ${value}.length > 0 && typeof ${value}[0] === '${element}')`;
  }
  return undefined;
}
