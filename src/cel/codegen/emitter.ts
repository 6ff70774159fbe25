// The text of one generated function and the constants it closes over.
//
// Generated code never contains text from a policy as code: every value that comes from the
// expression (literals, field names used as keys of a constant, slow-path operations, handlers,
// messages) is a constant, and every name in the source (`tN` temporaries, `kN` constants, labels) is
// made here. A constant is written as a literal where it is a string, a number, a bool or null
// (literalOf: JSON.stringify's text for a string, which means that string and nothing else), so that
// it is part of the machine code rather than a load from the closure; any other is passed to the
// generated factory as an array and bound to a `kN` name. A field name read as a property is
// validated as a CEL identifier and written as a JSON string literal too (`quoted`), so that each read
// site keeps an inline cache of its own.

import { BlockFacts } from './block-facts.js';

/** A JavaScript expression in the generated source: a temporary, a constant or a literal we wrote. */
export type Source = string;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Longest string written as a literal; a longer one is bound to a name. */
const LITERAL_STRING_LIMIT = 256;

/**
 * The literal a constant is written as, or undefined for one bound to a `kN` name: strings (quotes,
 * backslashes, control characters and lone surrogates escaped by JSON.stringify; the line separators
 * it keeps are allowed in string literals since ES2019), finite numbers but -0, bools and null. Each
 * is one primary expression, valid wherever a name is.
 */
export function literalOf(value: unknown): Source | undefined {
  if (typeof value === 'string') return value.length <= LITERAL_STRING_LIMIT ? JSON.stringify(value) : undefined;
  // In parentheses: `-5` after a minus, or `5` before a dot, would read as other tokens.
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0) ? `(${String(value)})` : undefined;
  if (typeof value === 'boolean' || value === null) return String(value);
  return undefined;
}

/**
 * Where generated text uses constant `index`: a token no other text of it holds (no name made here
 * and no literal has a NUL character), written out once the whole text is (constantsWritten), so that
 * no later step of the generators reads a literal as code.
 */
export function constantToken(index: number): Source {
  return `\u0000${index}\u0000`;
}

// The NULs are the point: no other text of the source has one (see constantToken).
// eslint-disable-next-line no-control-regex
const CONSTANT_TOKEN = /^\u0000(\d+)\u0000$/;
// eslint-disable-next-line no-control-regex
const CONSTANT_TOKENS = /\u0000(\d+)\u0000/g;

/** `text` with every constant's token written: its literal, or `<prefix><index>`, the name it is bound to (those listed in `bound`). */
export function constantsWritten(text: string, constants: readonly unknown[], prefix: string): { text: string; bound: number[] } {
  const bound = new Set<number>();
  const written = text.replace(CONSTANT_TOKENS, (_, n: string) => {
    const index = Number(n);
    const literal = literalOf(constants[index]);
    if (literal !== undefined) return literal;
    bound.add(index);
    return `${prefix}${index}`;
  });
  return { text: written, bound: [...bound].sort((a, b) => a - b) };
}

/** A CEL identifier written as a string literal of generated source; anything else is refused. */
export function quoted(name: string): Source {
  if (!IDENTIFIER.test(name)) throw new RangeError(`not an identifier: ${JSON.stringify(name)}`);
  return JSON.stringify(name);
}

export class Emitter {
  private readonly lines: string[] = [];
  private readonly constants: unknown[] = [];
  private readonly constantNames = new Map<unknown, Source>();
  private temporaries = 0;
  private labels = 0;
  private depth = 1;
  /** Values already computed, by what they read (`object.spec`), per open block (block-facts.ts). */
  private readonly known = new BlockFacts<Source>();

  /** A name for `value` in the generated code (the same name for the same value). */
  constant(value: unknown): Source {
    let name = this.constantNames.get(value);
    if (name === undefined) {
      name = constantToken(this.constants.length);
      this.constants.push(value);
      this.constantNames.set(value, name);
    }
    return name;
  }

  /** The `typeof` of the value a source stands for when it is a constant of this function (else undefined). */
  constantTypeOf(src: Source): string | undefined {
    const match = CONSTANT_TOKEN.exec(src);
    return match === null ? undefined : typeof this.constants[Number(match[1])];
  }

  /** A fresh function-level `let` variable. */
  temporary(): Source {
    return `t${this.temporaries++}`;
  }

  label(): Source {
    return `L${this.labels++}`;
  }

  /** The temporary holding the value read as `key`, when it was computed where this code runs. */
  recall(key: string): Source | undefined {
    return this.known.recall(key);
  }

  /** Records that `src` holds the value read as `key` from here to the end of the current block. */
  remember(key: string, src: Source): void {
    this.known.remember(key, src);
  }

  /**
   * The temporary that holds the value read as `key` if one is in scope; otherwise `read()` emits the
   * read, and its temporary is remembered (in the block current once it returns). Without a key, the
   * read is emitted every time.
   */
  recallOrRead(key: string | undefined, read: () => Source): Source {
    if (key === undefined) return read();
    const known = this.recall(key);
    if (known !== undefined) return known;
    const src = read();
    this.remember(key, src);
    return src;
  }

  emit(line: string): void {
    this.lines.push('  '.repeat(this.depth) + line);
  }

  /** `head {`, the statements `body` emits, `}` (an if, a loop, a try, a labelled block). */
  block(head: string, body: () => void, tail = '}'): void {
    this.emit(`${head} {`);
    this.depth++;
    this.known.open();
    try {
      body();
    } finally {
      this.known.close();
      this.depth--;
    }
    this.emit(tail);
  }

  /** The generated source, for tests and for reading what the compiler made of an expression. */
  source(prologue: readonly string[], result: Source): string {
    const temporaries = Array.from({ length: this.temporaries }, (_, i) => `t${i}`);
    const body = constantsWritten(
      [
        `return function compiledCel(activation) {`,
        ...prologue.map((line) => `  ${line}`),
        ...(temporaries.length > 0 ? [`  let ${temporaries.join(', ')};`] : []),
        ...this.lines,
        `  return ${result};`,
        `};`,
      ].join('\n'),
      this.constants,
      'k',
    );
    const constants = body.bound.map((i) => `k${i} = k[${i}]`);
    return [
      `'use strict';`,
      // `var`, not `const`: the generated function reads these from its closure, and a `const` there
      // costs a hole check (and its throw path) at every read in the optimized code.
      ...(constants.length > 0 ? [`var ${constants.join(', ')};`] : []),
      body.text,
    ].join('\n');
  }

  /** Instantiates the generated source once: a factory of the constants, called with them. */
  instantiate<F>(prologue: readonly string[], result: Source): { code: F; source: string } {
    const source = this.source(prologue, result);
    const factory = new Function('k', source) as (constants: readonly unknown[]) => F;
    return { code: factory(this.constants), source };
  }
}
