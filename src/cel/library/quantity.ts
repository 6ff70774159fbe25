// Kubernetes' quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go) on the one Quantity port
// in common/quantity.ts:
//   quantity(<string>) <Quantity>, isQuantity(<string>) <bool>
//   <Quantity>.isInteger() <bool>, .asInteger() <int>, .asApproximateFloat() <double>
//   sign(<Quantity>) <int> (and <Quantity>.sign(), the form Kubernetes' documentation shows)
//   <Quantity>.add(<Quantity>|<int>), .sub(<Quantity>|<int>) <Quantity>
//   <Quantity>.isGreaterThan(<Quantity>), .isLessThan(<Quantity>) <bool>, .compareTo(<Quantity>) <int>
//   == and != compare values (quantity('1Ki') == quantity('1024')).
// Costs, as Kubernetes charges: quantity() and isQuantity() one traversal of the string (a tenth of
// its size, rounded up), every other function 1.
import type { Environment } from '@marcbachmann/cel-js';
import { isQuantity, parseQuantity, Quantity, QuantityError } from '../../common/quantity.js';
import type { HasJsonForm } from '../values.js';
import { chargeStringTraversal, nominal } from './call-costs.js';
import { celError, define } from './support.js';

/** A quantity as a CEL value: named for CEL's type checks, written into JSON as the apiserver prints it. */
export class CelQuantity extends Quantity implements HasJsonForm {
  readonly celTypeName = 'kubernetes.Quantity';

  static of(quantity: Quantity): CelQuantity {
    return quantity instanceof CelQuantity ? quantity : new CelQuantity(quantity.mantissa, quantity.exponent, quantity.compact, quantity.format, quantity.text);
  }

  toCelJson(): string {
    return this.toString();
  }
}

/** quantity(<string>): apimachinery's refusal becomes a CEL error with its message. */
function celQuantity(text: string): CelQuantity {
  chargeStringTraversal(text);
  try {
    return CelQuantity.of(parseQuantity(text));
  } catch (error) {
    if (error instanceof QuantityError) throw celError(error.message);
    throw error;
  }
}

const Q = 'kubernetes.Quantity';

export function registerQuantityLibrary(env: Environment): void {
  env.registerType(Q, { ctor: CelQuantity, fields: {} });
  env.registerOperator(`${Q} == ${Q}`, (a: CelQuantity, b: CelQuantity) => a.compareTo(b) === 0);
  define(env, `quantity(string): ${Q}`, celQuantity);
  define(env, 'isQuantity(string): bool', (text: string) => (chargeStringTraversal(text), isQuantity(text)));
  define(env, `sign(${Q}): int`, nominal((q: CelQuantity) => BigInt(q.sign())));
  define(env, `${Q}.sign(): int`, nominal((q: CelQuantity) => BigInt(q.sign())));
  define(env, `${Q}.isInteger(): bool`, nominal((q: CelQuantity) => q.asInt64() !== undefined));
  define(
    env,
    `${Q}.asInteger(): int`,
    nominal((q: CelQuantity) => {
      const value = q.asInt64();
      if (value === undefined) throw celError('cannot convert value to integer');
      return value;
    }),
  );
  define(env, `${Q}.asApproximateFloat(): double`, nominal((q: CelQuantity) => q.asApproximateFloat()));
  define(env, `${Q}.add(${Q}): ${Q}`, nominal((a: CelQuantity, b: CelQuantity) => CelQuantity.of(a.plus(b))));
  define(env, `${Q}.add(int): ${Q}`, nominal((a: CelQuantity, b: bigint) => CelQuantity.of(a.plus(new Quantity(b, 0, true, 'DecimalExponent')))));
  define(env, `${Q}.sub(${Q}): ${Q}`, nominal((a: CelQuantity, b: CelQuantity) => CelQuantity.of(a.plus(b, true))));
  define(env, `${Q}.sub(int): ${Q}`, nominal((a: CelQuantity, b: bigint) => CelQuantity.of(a.plus(new Quantity(b, 0, true, 'DecimalExponent'), true))));
  define(env, `${Q}.isGreaterThan(${Q}): bool`, nominal((a: CelQuantity, b: CelQuantity) => a.compareTo(b) === 1));
  define(env, `${Q}.isLessThan(${Q}): bool`, nominal((a: CelQuantity, b: CelQuantity) => a.compareTo(b) === -1));
  define(env, `${Q}.compareTo(${Q}): int`, nominal((a: CelQuantity, b: CelQuantity) => BigInt(a.compareTo(b))));
}
