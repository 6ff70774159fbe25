// What the CEL compiler and its callers agree on: how a single operation is run on the interpreter
// (the slow path), the variables it binds its operands to, and the error that sends a whole
// expression to the interpreter.

/** Evaluates one operation on the interpreter, the operands bound to the program's variables. */
export type InterpretedOperation = (...operands: unknown[]) => unknown;

/**
 * Builds the interpreted program for one operation, e.g. `object == oldObject`, its operands declared
 * with the types the interpreter's own check gave them (`string`, `list<dyn>`, `dyn`): the interpreter
 * resolves overloads at check time or at run time, and words its errors, by those.
 */
export type OperationFactory = (source: string, operandTypes: readonly string[]) => InterpretedOperation;

/** The runtime variables an interpreted operation binds its operands to, in order. */
export const OPERAND_NAMES = ['object', 'oldObject', 'request', 'params', 'variables', 'namespaceObject', 'coverage', 'element', 'index'] as const;

export class NotCompiled extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotCompiled';
  }
}
