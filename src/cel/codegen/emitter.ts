// The text of one generated function and the constants it closes over.
//
// Generated code never contains text from a policy: every value that comes from the expression
// (literals, field names used as keys of a constant, slow-path operations, handlers, messages) is a
// constant, passed to the generated factory as an array and bound to a `kN` name, and every name in
// the source (`tN` temporaries, `kN` constants, labels) is made here. The one exception is a field
// name read as a property, which the caller validates as a CEL identifier and writes as a JSON string
// literal (`quoted`), so that each read site keeps an inline cache of its own.

/** A JavaScript expression in the generated source: a temporary, a constant or a literal we wrote. */
export type Source = string;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
  /**
   * Values already computed, by what they read (`object.spec`), one map per open block: a value is
   * known in the block that computed it and the blocks inside it, never after the block closes (a
   * branch not taken, a `try` left by a throw, a loop iteration over).
   */
  private readonly known: Map<string, Source>[] = [new Map()];

  /** A name for `value` in the generated code (the same name for the same value). */
  constant(value: unknown): Source {
    let name = this.constantNames.get(value);
    if (name === undefined) {
      name = `k${this.constants.length}`;
      this.constants.push(value);
      this.constantNames.set(value, name);
    }
    return name;
  }

  /** The `typeof` of the value a source stands for when it is a constant of this function (else undefined). */
  constantTypeOf(src: Source): string | undefined {
    const match = /^k(\d+)$/.exec(src);
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
    for (let i = this.known.length - 1; i >= 0; i--) {
      const known = this.known[i]!.get(key);
      if (known !== undefined) return known;
    }
    return undefined;
  }

  /** Records that `src` holds the value read as `key` from here to the end of the current block. */
  remember(key: string, src: Source): void {
    this.known[this.known.length - 1]!.set(key, src);
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
    this.known.push(new Map());
    try {
      body();
    } finally {
      this.known.pop();
      this.depth--;
    }
    this.emit(tail);
  }

  /** The generated source, for tests and for reading what the compiler made of an expression. */
  source(prologue: readonly string[], result: Source): string {
    const constants = this.constants.map((_, i) => `k${i} = k[${i}]`);
    const temporaries = Array.from({ length: this.temporaries }, (_, i) => `t${i}`);
    return [
      `'use strict';`,
      // `var`, not `const`: the generated function reads these from its closure, and a `const` there
      // costs a hole check (and its throw path) at every read in the optimized code.
      ...(constants.length > 0 ? [`var ${constants.join(', ')};`] : []),
      `return function compiledCel(activation) {`,
      ...prologue.map((line) => `  ${line}`),
      ...(temporaries.length > 0 ? [`  let ${temporaries.join(', ')};`] : []),
      ...this.lines,
      `  return ${result};`,
      `};`,
    ].join('\n');
  }

  /** Instantiates the generated source once: a factory of the constants, called with them. */
  instantiate<F>(prologue: readonly string[], result: Source): { code: F; source: string } {
    const source = this.source(prologue, result);
    const factory = new Function('k', source) as (constants: readonly unknown[]) => F;
    return { code: factory(this.constants), source };
  }
}
