// What Kubernetes' CEL charges for the nodes themselves: the unit cel-go's cost tracker
// (interpreter/runtimecost.go, Observe) adds for each identifier, field selection, index and
// constant-time call, the base cost of a list, map or object literal, and the fixed parts of the
// comprehension macros' expansions. Calls whose price depends on their operands (string functions,
// `==`, `in` on a list, concatenation...) charge the rest themselves (library/call-costs.ts).
//
// The rules, as cel-go plans an expression under Kubernetes' options (OptOptimize, cost tracking,
// presence tests free), with the expected costs checked against cel-go by test/cel-cost-oracle:
//   - a literal costs 0, and so does a list or map literal of constants only (OptOptimize folds it
//     into a constant) and a conversion (int, string, dyn, ...) of a constant; any other list literal
//     costs 10, a map literal 30, an object construction 40, plus their elements;
//   - an identifier costs 1, each field selection or index 1 (plus the key's own cost, less 1 when
//     the key is itself a variable, a selection or an index); a selection or index on something that
//     is not itself one of those or a conditional (a call's result, a literal) costs 1 more (cel-go
//     makes a relative attribute of it);
//   - `a.?f` and `a[?k]` cost 1 only when the member is there;
//   - `has(a.f)` costs what `a` costs (the presence test itself is free in Kubernetes);
//   - `&&`, `||`, `c ? x : y` cost nothing themselves; a branch of `?:` that is a variable, a
//     selection or an index costs 1 less (cel-go resolves it as part of the conditional);
//   - every other call and operator costs 1, `==` and `!=` included, and those cel-go prices by
//     their operands' sizes charge the rest from the values: `==`/`!=` (equality-cost.ts), and `+` on
//     strings or bytes, string and bytes orderings and `in` on a list when the checker knows an
//     operand's type (sizedCharge: between two dyn operands cel-go dispatches at run time and
//     charges 1); the functions of Kubernetes' libraries (SELF_CHARGED) charge their whole price in
//     their handlers; list concatenation 1 + the result's length (allocations.ts, on purpose);
//   - `x in [constants]` costs what `x` costs (a set lookup), and `x in []` nothing at all;
//   - `opt.orValue(y)` and `opt.or(y)` cost nothing themselves;
//   - the comprehension macros as cel-go expands them: per iteration, the loop condition (`all` 2,
//     `exists` 3, the others 0) and the step (`all`/`exists` 1 plus the predicate; `exists_one` the
//     predicate plus 2 when it holds; `map`/`filter` 12 plus the element's cost for each element
//     kept); the result 1 (`exists_one` 2), once the range turned out iterable.
//
// How it is charged cheaply: costs that do not depend on values are added up per straight-line
// region at load time (the whole expression; the right side of && and ||; each branch of ?:; the
// argument of orValue and or; a comprehension's init and its step), and each region charges its sum
// once when it starts, in the interpreter (installNodeCosts) and in compiled code (codegen) alike.
// Charging a region up front also charges what cel-go charges after an error inside it (cel-go
// evaluates every operand of a call even when one failed, and charges the call). Known differences
// from cel-go, identical in both engines and only where && / || / all / exists absorb an error: the
// selections after a failing one in a chain are still charged (cel-go stops at the failing one), and
// so is the rest of a has() chain; a library call whose operand failed costs nothing (cel-go prices
// it as if the error were of size 1); a map / filter / exists_one stops at its first error (cel-go
// runs and charges the remaining iterations); a quantifier that kept an error and was decided by its
// last element pays one loop condition more.
import { Optional, type ASTNode } from '@marcbachmann/cel-js';
import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { chargeCost, isCostBudgetArmed } from './cost.js';
import {
  checkedTypeOf,
  comprehensionOf,
  forEachNode,
  hasMacroOf,
  optionalMacroOf,
  replaceBinaryHandler,
  type ComprehensionLike,
  type NodeLike,
} from './cel-js-internals.js';
import { chargeListMembership, chargeOrdering, pairTraversal, traversal } from './library/call-costs.js';

/** cel-go's ListCreateBaseCost, MapCreateBaseCost and StructCreateBaseCost (common/cost.go). */
export const LIST_LITERAL_COST = 10;
export const MAP_LITERAL_COST = 30;
export const STRUCT_CREATE_COST = 40;

/** The function object construction (`JSONPatch{...}`) parses into (object-construction.ts). */
const CONSTRUCT_FUNCTION = 'daemonguard_construct';

/** The comprehension macros as the metered macros name them (library/comprehensions.ts). */
export type ComprehensionKind = 'all' | 'exists' | 'exists_one' | 'map' | 'filter';

/**
 * What cel-go's expansion of each macro costs besides the predicate or transform: its loop condition
 * per iteration (`@not_strictly_false(@result)`, `@not_strictly_false(!@result)`, else the constant
 * true), the step's own part (`@result && p`, `@result || p`) and the result (`@result`,
 * `@result == 1`). The parts of exists_one, map and filter steps are their nodes' (accuInc, accuPush).
 */
export const COMPREHENSION_COSTS: Readonly<Record<ComprehensionKind, { condition: number; step: number; result: number }>> = Object.freeze({
  all: { condition: 2, step: 1, result: 1 },
  exists: { condition: 3, step: 1, result: 1 },
  exists_one: { condition: 0, step: 0, result: 2 },
  map: { condition: 0, step: 0, result: 1 },
  filter: { condition: 0, step: 0, result: 1 },
});

/** `@result + [element]`: the accumulator (1), the one-element list (10) and the concatenation (1). */
const APPEND_COST = 1 + LIST_LITERAL_COST + 1;
/** `@result + 1`: the accumulator (1) and the addition (1). */
const INCREMENT_COST = 2;

/**
 * Functions whose handlers charge their whole price (Kubernetes' libraries: strings, lists, regex,
 * quantity, URL, IP and CIDR), so that the node adds nothing.
 */
const SELF_CHARGED: ReadonlySet<string> = new Set([
  // strings
  'charAt', 'contains', 'endsWith', 'format', 'indexOf', 'join', 'lastIndexOf', 'lowerAscii', 'quote', 'replace', 'reverse',
  'split', 'startsWith', 'substring', 'trim', 'upperAscii',
  // lists
  'isSorted', 'max', 'min', 'sum',
  // regex
  'find', 'findAll', 'matches',
  // quantity
  'add', 'asApproximateFloat', 'compareTo', 'isGreaterThan', 'isInteger', 'isLessThan', 'isQuantity', 'quantity', 'sign', 'sub',
  // URL
  'getEscapedPath', 'getHost', 'getHostname', 'getPort', 'getQuery', 'getScheme', 'isURL', 'url',
  // IP and CIDR
  'cidr', 'containsCIDR', 'containsIP', 'family', 'ip', 'isCIDR', 'isCanonical', 'isGlobalUnicast', 'isIP', 'isLinkLocalMulticast',
  'isLinkLocalUnicast', 'isLoopback', 'isUnspecified', 'masked', 'prefixLength',
  // JSONPatch
  'escapeKey',
]);

/** cel-go's type conversion functions, which OptOptimize folds into a constant when their argument is one. */
const CONVERSIONS: ReadonlySet<string> = new Set(['bool', 'bytes', 'double', 'duration', 'dyn', 'int', 'string', 'timestamp', 'type', 'uint']);

/** Nodes cel-go plans as attributes: a selection or index on one of these costs no extra unit. */
const ATTRIBUTE_OPS: ReadonlySet<string> = new Set(['id', '.', '.?', '[]', '[?]', '?:']);

function plain(node: NodeLike): boolean {
  return !node.meta.alternate && !node.meta.macro;
}

function isAttribute(node: NodeLike): boolean {
  return plain(node) && ATTRIBUTE_OPS.has(node.op);
}

function callParts(node: NodeLike): { name: string; operands: NodeLike[] } {
  if (node.op === 'rcall') {
    const [name, receiver, args] = node.args as [string, NodeLike, NodeLike[]];
    return { name, operands: [receiver, ...args] };
  }
  const [name, args] = node.args as [string, NodeLike[]];
  return { name, operands: args };
}

/** Whether cel-go (with OptOptimize) plans the node as a constant. */
export function isConstant(node: NodeLike): boolean {
  const alternate = node.meta.alternate;
  if (alternate) return comprehensionOf(alternate) === undefined && isConstant(alternate);
  if (node.meta.macro) return false;
  switch (node.op) {
    case 'value':
      return true;
    case '-_':
      return isNumberLiteral(node.args as NodeLike);
    case 'list':
      return (node.args as NodeLike[]).every(isConstant);
    case 'map':
      return (node.args as [NodeLike, NodeLike][]).every(([k, v]) => isConstant(k) && isConstant(v));
    case 'call': {
      const { name, operands } = callParts(node);
      return CONVERSIONS.has(name) && operands.length === 1 && isConstant(operands[0]!);
    }
    default:
      return false;
  }
}

function isNumberLiteral(node: NodeLike): boolean {
  return plain(node) && node.op === 'value' && (typeof node.args === 'bigint' || typeof node.args === 'number' || node.args instanceof UnsignedInt);
}

/** A constant list literal of primitives (not bytes): cel-go tests `x in` it as a set lookup. */
function constantSetSize(node: NodeLike): number | undefined {
  if (!plain(node) || node.op !== 'list' || !isConstant(node)) return undefined;
  const elements = node.args as NodeLike[];
  for (const element of elements) {
    const primitive =
      isNumberLiteral(element) ||
      (element.op === '-_' && isNumberLiteral(element.args as NodeLike)) ||
      (plain(element) && element.op === 'value' && (typeof element.args === 'string' || typeof element.args === 'boolean')) ||
      (plain(element) && element.op === 'call' && ['int', 'uint', 'double', 'string', 'bool'].includes(callParts(element).name));
    if (!primitive) return undefined;
  }
  return elements.length;
}

/**
 * The units `node` costs that do not depend on values, for the part of it evaluated whenever it is:
 * itself and its operands, but not what only some evaluations reach (the right side of && and ||, the
 * branches of ?:, orValue's argument, a comprehension's iterations), which are regions of their own.
 */
export function regionCost(node: NodeLike): number {
  const alternate = node.meta.alternate;
  if (alternate) {
    const comprehension = comprehensionOf(alternate);
    // The init (and the result, charged with it) is a region of its own: evaluated only once the range is iterable.
    if (comprehension) return regionCost(comprehension.iterable);
    return regionCost(alternate);
  }
  if (node.meta.macro) {
    const has = hasMacroOf(node);
    if (has) return regionCost(has.operand);
    const optional = optionalMacroOf(node);
    if (optional) return regionCost(optional.receiver);
    // Another macro (cel.bind, optMap): the nodes it holds (not `ast`, the call node itself).
    let sum = 0;
    for (const [key, member] of Object.entries(node.meta.macro)) {
      if (key !== 'ast' && isNode(member) && member !== node) sum += regionCost(member);
    }
    return sum;
  }
  if (isConstant(node)) return 0;
  switch (node.op) {
    case 'id':
      return 1;
    case '.':
    case '.?': {
      const operand = (node.args as [NodeLike, string])[0];
      return (node.op === '.' ? 1 : 0) + (isAttribute(operand) ? 0 : 1) + regionCost(operand);
    }
    case '[]':
    case '[?]': {
      const [operand, key] = node.args as [NodeLike, NodeLike];
      return (node.op === '[]' ? 1 : 0) + (isAttribute(operand) ? 0 : 1) + regionCost(operand) + resolvedCost(key);
    }
    case '&&':
    case '||':
      return regionCost((node.args as [NodeLike, NodeLike])[0]);
    case '?:':
      return regionCost((node.args as [NodeLike, NodeLike, NodeLike])[0]);
    case '!_':
    case '-_':
      return 1 + regionCost(node.args as NodeLike);
    case 'in': {
      const [l, r] = node.args as [NodeLike, NodeLike];
      const set = constantSetSize(r);
      // A set lookup costs nothing, and `x in []` is the constant false: `x` is not even evaluated.
      if (set !== undefined) return set === 0 ? 0 : regionCost(l);
      return 1 + regionCost(l) + regionCost(r);
    }
    case '==':
    case '!=':
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const [l, r] = node.args as [NodeLike, NodeLike];
      return 1 + regionCost(l) + regionCost(r);
    }
    case 'list':
      return LIST_LITERAL_COST + (node.args as NodeLike[]).reduce((sum, element) => sum + regionCost(element), 0);
    case 'map':
      return MAP_LITERAL_COST + (node.args as [NodeLike, NodeLike][]).reduce((sum, [k, v]) => sum + regionCost(k) + regionCost(v), 0);
    case 'call':
    case 'rcall': {
      const { name, operands } = callParts(node);
      if (name === CONSTRUCT_FUNCTION && operands.length === 2 && operands[1]!.op === 'map') {
        // A struct: 40, and its field values (the field names are constants).
        return STRUCT_CREATE_COST + (operands[1]!.args as [NodeLike, NodeLike][]).reduce((sum, [, v]) => sum + regionCost(v), 0);
      }
      const own = SELF_CHARGED.has(name) ? 0 : 1;
      return own + operands.reduce((sum, operand) => sum + regionCost(operand), 0);
    }
    case 'accuValue':
      return 0;
    case 'accuInc':
      return INCREMENT_COST;
    case 'accuPush':
      return APPEND_COST + regionCost(node.args as NodeLike);
    default:
      return sumOfNodes(node.args);
  }
}

function sumOfNodes(value: unknown): number {
  let sum = 0;
  if (Array.isArray(value)) for (const element of value) if (isNode(element)) sum += regionCost(element);
  return sum;
}

function isNode(value: unknown): value is NodeLike {
  return typeof value === 'object' && value !== null && typeof (value as NodeLike).op === 'string' && typeof (value as NodeLike).meta === 'object';
}

/**
 * For `+`, an ordering or `in` that cel-go prices by its operands' sizes, what it charges beyond the
 * node's unit, from the evaluated operands; undefined where the node's unit is all. cel-go prices
 * these by size only when its checker resolved a single overload, that is when an operand's type is
 * known (`dyn + 'suffix'`, `x in [a, b]`); between two dyn operands it dispatches at run time and
 * charges 1. `leftType` and `rightType` are the types the interpreter's check gave the operands.
 */
export function sizedCharge(node: NodeLike, leftType: string, rightType: string): ((left: unknown, right: unknown) => void) | undefined {
  if (!plain(node)) return undefined;
  const textual = (type: string) => type === 'string' || type === 'bytes';
  switch (node.op) {
    case '+':
      return textual(leftType) || textual(rightType) ? chargeConcatenation : undefined;
    case '<':
    case '<=':
    case '>':
    case '>=':
      return textual(leftType) || textual(rightType) ? chargeOrderingOperands : undefined;
    case 'in':
      if (constantSetSize((node.args as [NodeLike, NodeLike])[1]) !== undefined) return undefined;
      return /^list\b/.test(rightType) ? chargeMembershipOperands : undefined;
    default:
      return undefined;
  }
}

/** string + string and bytes + bytes: ceil((size(a) + size(b)) * 0.1), less the node's unit. */
function chargeConcatenation(left: unknown, right: unknown): void {
  if (!isCostBudgetArmed()) return;
  if (typeof left === 'string' && typeof right === 'string') chargeCost(pairTraversal(left, right) - 1);
  else if (left instanceof Uint8Array && right instanceof Uint8Array) chargeCost(traversal(left.length + right.length) - 1);
}

function chargeOrderingOperands(left: unknown, right: unknown): void {
  const text = (v: unknown) => typeof v === 'string' || v instanceof Uint8Array;
  if (text(left) && text(right)) chargeOrdering(left as string | Uint8Array, right as string | Uint8Array);
}

function chargeMembershipOperands(_value: unknown, list: unknown): void {
  if (Array.isArray(list) || list instanceof Set) chargeListMembership(list);
}

/**
 * A branch of `?:` or an index's key: cel-go resolves one that is an attribute (a variable, a
 * selection, an index) as part of the conditional or the index, without the attribute's own unit.
 */
export function resolvedCost(node: NodeLike): number {
  return regionCost(node) - (isAttribute(node) && node.op !== '?:' ? 1 : 0);
}

/** The kind of a comprehension, as the metered macros record it; undefined for one they did not expand. */
export function comprehensionKind(c: ComprehensionLike): ComprehensionKind | undefined {
  return (c as ComprehensionLike & { costKind?: ComprehensionKind }).costKind;
}

/** What one iteration's step costs, its share of the loop condition included. */
export function stepCost(c: ComprehensionLike): number {
  const kind = comprehensionKind(c);
  const fixed = kind === undefined ? 0 : COMPREHENSION_COSTS[kind].step + COMPREHENSION_COSTS[kind].condition;
  return fixed + regionCost(c.step);
}

/** Charges `.?f` / `[?k]`: one unit when the member was there. */
export function chargeIfPresent(value: unknown): void {
  if (isCostBudgetArmed() && value instanceof Optional && value.hasValue()) chargeCost(1);
}

/**
 * The regions of an expression: every node that starts one, with what it charges when it is
 * evaluated. Shared by the interpreter's hooks and the code generator, so that both charge the same.
 */
export function forEachRegion(root: NodeLike, visit: (node: NodeLike, units: number) => void): void {
  visit(root, regionCost(root));
  forEachNode(root as unknown as ASTNode, (node) => {
    const alternate = node.meta.alternate;
    const comprehension = alternate ? comprehensionOf(alternate) : undefined;
    if (comprehension) {
      visit(comprehension.step, stepCost(comprehension));
      // The result (`@result`, `@result == 1`) is evaluated whenever the loop ran, even to an error:
      // charged with the init, which cel-js evaluates once the range turned out iterable.
      const kind = comprehensionKind(comprehension);
      visit(comprehension.init, regionCost(comprehension.init) + (kind === undefined ? 0 : COMPREHENSION_COSTS[kind].result));
      return;
    }
    const optional = optionalMacroOf(node);
    if (optional) {
      visit(optional.argument, regionCost(optional.argument));
      return;
    }
    if (!plain(node)) return;
    if (node.op === '&&' || node.op === '||') {
      const right = (node.args as [NodeLike, NodeLike])[1];
      visit(right, regionCost(right));
    } else if (node.op === '?:') {
      const [, left, right] = node.args as [NodeLike, NodeLike, NodeLike];
      visit(left, resolvedCost(left));
      visit(right, resolvedCost(right));
    }
  });
}

/**
 * Makes cel-js's interpreter charge the node costs of a checked expression: each region its sum when
 * it starts, and `.?` / `[?]` their unit when the member is there. Must run after the check and
 * before the first evaluation (which caches each node's evaluate function). `checkedAst` is the same
 * expression as the policy's checker typed it: the types that decide whether `+`, an ordering or
 * `in` is priced by size are read there (the code generator reads the same), not from the
 * interpreter's own check, which sees `params` and `object` as dyn.
 */
export function installNodeCosts(ast: ASTNode, checkedAst: ASTNode = ast): void {
  // The hooks are made by the module-level functions below, never by a closure written here: a
  // closure's context chains to this function's, and this one holds the twin table of the checked
  // AST, which would keep every checked expression (and its checker's overload candidates) alive for
  // as long as the interpreter's AST (about 6 MB for the library).
  const checkedTwin = twins(ast, checkedAst);
  const sized: [NodeLike, NonNullable<ReturnType<typeof sizedCharge>>][] = [];
  const presence: NodeLike[] = [];
  forEachNode(ast, (node) => {
    if (node.op === '+' || node.op === 'in' || node.op === '<' || node.op === '<=' || node.op === '>' || node.op === '>=') {
      const [left, right] = node.args as [NodeLike, NodeLike];
      const typeOf = (operand: NodeLike): string => checkedTypeOf(checkedTwin.get(operand) ?? operand) ?? 'dyn';
      const charge = sizedCharge(node, typeOf(left), typeOf(right));
      if (charge !== undefined) sized.push([node, charge]);
      return;
    }
    if (plain(node) && (node.op === '.?' || node.op === '[?]')) presence.push(node);
  });
  checkedTwin.clear();
  forEachRegion(ast as unknown as NodeLike, chargeRegionBeforeEvaluation);
  for (const [node, charge] of sized) chargeOperandsBeforeHandler(node, charge);
  for (const node of presence) chargePresenceAfterEvaluation(node);
}

function chargeRegionBeforeEvaluation(node: NodeLike, units: number): void {
  if (units !== 0) beforeEvaluation(node, () => chargeCost(units));
}

function chargeOperandsBeforeHandler(node: NodeLike, charge: (left: unknown, right: unknown) => void): void {
  replaceBinaryHandler(node, (original) => (l, r) => {
    charge(l, r);
    return original(l, r);
  });
}

function chargePresenceAfterEvaluation(node: NodeLike): void {
  const original = node.meta.evaluate;
  if (typeof original !== 'function') throw new Error(`cel-js internals changed: a '${node.op}' node has no evaluate function`);
  node.setMeta('evaluate', function presenceCharged(this: unknown, evaluator: unknown, n: unknown, ctx: unknown) {
    const value = original.call(this, evaluator, n, ctx);
    chargeIfPresent(value);
    return value;
  });
}

/** Each node of `ast` with the node at the same place in `other` (the same expression checked elsewhere); empty when their shapes differ. */
function twins(ast: ASTNode, other: ASTNode): Map<NodeLike, NodeLike> {
  const mine: NodeLike[] = [];
  const theirs: NodeLike[] = [];
  forEachNode(ast, (node) => mine.push(node));
  forEachNode(other, (node) => theirs.push(node));
  const pairs = new Map<NodeLike, NodeLike>();
  if (mine.length !== theirs.length || mine.some((node, i) => node.op !== theirs[i]!.op)) return pairs;
  mine.forEach((node, i) => pairs.set(node, theirs[i]!));
  return pairs;
}

/** Runs `before` each time the interpreter evaluates `node` (through its expansion for a macro). */
function beforeEvaluation(node: NodeLike, before: () => void): void {
  const alternate = node.meta.alternate;
  if (alternate) return beforeEvaluation(alternate, before);
  const macro = node.meta.macro as { evaluate?: (...args: unknown[]) => unknown } | undefined;
  if (macro) {
    const original = macro.evaluate;
    if (typeof original !== 'function') throw new Error('cel-js internals changed: a macro has no evaluate function');
    macro.evaluate = function charged(this: unknown, ...args: unknown[]) {
      before();
      return original.apply(this, args);
    };
    return;
  }
  const original = node.meta.evaluate;
  if (typeof original !== 'function') throw new Error(`cel-js internals changed: a '${node.op}' node has no evaluate function`);
  node.setMeta('evaluate', function charged(this: unknown, evaluator: unknown, n: unknown, ctx: unknown) {
    before();
    return original.call(this, evaluator, n, ctx);
  });
}
