// Metered comprehension macros: all, exists, exists_one, map (2 and 3 arguments) and filter behave
// exactly as cel-js's own (we call its expanders), and record which macro they are, so that the step
// and the init are charged what cel-go's expansion costs (node-costs.ts COMPREHENSION_COSTS). The loop
// condition that stops the loop is charged here (each step that runs pays for the check before it,
// as part of its region): a plain function cel-js and compiled code call, so there is no extra AST
// node and no per-element allocation.
import type { Environment } from '@marcbachmann/cel-js';
import { chargeCost } from '../cost.js';
import { COMPREHENSION_COSTS, comprehensionKind, type ComprehensionKind } from '../node-costs.js';
import {
  findBuiltinMacro,
  installRegistryHooks,
  registryOf,
  type ComprehensionLike,
  type DeclarationLike,
  type MacroExpansion,
  type MacroExpander,
  type MacroResult,
  type NodeLike,
  type RegistryLike,
} from '../cel-js-internals.js';

interface ComprehensionArgs {
  condition?: (accumulator: unknown) => boolean;
  /** Which macro expanded it (node-costs.ts reads it to price the step). */
  costKind?: ComprehensionKind;
}

const METERED_MACROS: ReadonlyArray<{ name: ComprehensionKind; args: number; returns: string }> = [
  { name: 'all', args: 2, returns: 'bool' },
  { name: 'exists', args: 2, returns: 'bool' },
  { name: 'exists_one', args: 2, returns: 'bool' },
  { name: 'map', args: 2, returns: 'list<dyn>' },
  { name: 'map', args: 3, returns: 'list<dyn>' },
  { name: 'filter', args: 2, returns: 'list<dyn>' },
];

/** cel-js's own expanders, looked up once (they are shared by every environment). */
const builtinExpanders = new Map<string, DeclarationLike>();

function meter(args: ComprehensionArgs, kind: ComprehensionKind): void {
  const costs = COMPREHENSION_COSTS[kind];
  const condition = args.condition;
  args.costKind = kind;
  // A condition that stops the loop is paid here; one that lets a step run is part of the step's
  // region. (cel-js asks the condition once more after a quantifier whose steps kept an error, which
  // cel-go does not: that check costs nothing unless the last element decided the quantifier, where
  // daemonguard charges one condition more than cel-go, in both engines.)
  args.condition =
    costs.condition === 0 || condition === undefined
      ? condition
      : (accumulator) => {
          if (condition(accumulator)) return true;
          chargeCost(costs.condition);
          return false;
        };
}

/** Where a quantifier's loop stops: the accumulator's value that stops it, and what the stop is charged (meter above). */
export interface QuantifierStop {
  readonly stopsOn: boolean;
  readonly units: number;
}

function isBoolLiteral(node: NodeLike, value: boolean): boolean {
  return node.op === 'value' && node.args === value;
}

/**
 * A quantifier's loop condition as generated code inlines it (codegen/generator.ts and
 * lean-generator.ts): for `all` and `exists` as cel-js expands them, whose accumulator is a bool
 * throughout (a literal to start, each step `predicate ? true : false`, the result the accumulator
 * itself), the value on which the condition stops the loop (`all` on false, `exists` on true: cel-js's
 * conditions are truthiness and its negation) and what the metered condition charges there;
 * undefined for any other comprehension, which calls the condition.
 */
export function boolQuantifierStop(c: ComprehensionLike): QuantifierStop | undefined {
  const kind = comprehensionKind(c);
  const stop: QuantifierStop | undefined =
    kind === 'all' ? { stopsOn: false, units: COMPREHENSION_COSTS.all.condition } : kind === 'exists' ? { stopsOn: true, units: COMPREHENSION_COSTS.exists.condition } : undefined;
  if (stop === undefined || c.condition === undefined || !isBoolLiteral(c.init, !stop.stopsOn)) return undefined;
  const [, whenTrue, whenFalse] = Array.isArray(c.step.args) ? (c.step.args as NodeLike[]) : [];
  if (c.step.op !== '?:' || whenTrue === undefined || whenFalse === undefined || !isBoolLiteral(whenTrue, true) || !isBoolLiteral(whenFalse, false)) return undefined;
  return c.result(true) === true && c.result(false) === false ? stop : undefined;
}

function isComprehension(result: MacroResult): result is { callAst: MacroResult & { args: ComprehensionArgs } } & MacroResult {
  return 'callAst' in result && typeof result.callAst.args === 'object' && result.callAst.args !== null;
}

let probe: { registry?: RegistryLike } | null = null;

const PROBE_RESULT: MacroResult = {
  typeCheck() {
    throw new Error('registry probe expression is never type-checked');
  },
  evaluate() {
    throw new Error('registry probe expression is never evaluated');
  },
};

function meteredExpander(name: ComprehensionKind, argCount: number): MacroExpander {
  const key = `${name}/${argCount}`;
  return (expansion: MacroExpansion): MacroResult => {
    if (probe) {
      probe.registry = registryOf(expansion);
      return PROBE_RESULT;
    }
    const builtin = builtinExpanders.get(key);
    if (!builtin) throw new Error(`metered macro ${key} used before the base environment finished loading`);
    const result = builtin.handler(expansion) as MacroResult;
    if (!isComprehension(result)) throw new Error(`cel-js internals changed: ${key} no longer expands to a comprehension`);
    meter(result.callAst.args, name);
    return result;
  };
}

/**
 * Registers the metered macros on `env` and returns env's registry, captured through one of them
 * (the other libraries need it to replace built-in overloads).
 */
export function registerMeteredComprehensions(env: Environment): RegistryLike {
  for (const macro of METERED_MACROS) {
    const params = Array.from({ length: macro.args }, () => 'ast').join(', ');
    // Declared on `map` so that cel-js's overlap check (which compares receivers) accepts it next to
    // the built-in `list.<name>`; the parser picks the last macro registered whatever the receiver.
    env.registerFunction(`map.${macro.name}(${params}): ${macro.returns}`, meteredExpander(macro.name, macro.args));
  }
  const slot: { registry?: RegistryLike } = {};
  probe = slot;
  try {
    env.parse('[].all(x, true)');
  } finally {
    probe = null;
  }
  const registry = slot.registry;
  if (!registry) throw new Error('cel-js internals changed: the registry probe did not run');
  installRegistryHooks(registry);
  for (const macro of METERED_MACROS) {
    const key = `${macro.name}/${macro.args}`;
    if (!builtinExpanders.has(key)) builtinExpanders.set(key, findBuiltinMacro(registry, macro.name, macro.args, 'list'));
  }
  return registry;
}
