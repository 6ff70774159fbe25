import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crdSchema, renderCustomResourceDefinitions } from './custom-resource-definitions.js';

type Node = Record<string, unknown>;

/** Every schema node below `node`, with its path. */
function* nodes(node: Node, path = ''): Generator<[string, Node]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) yield* nodes(child, `${path}.${name}`);
  if (typeof node.items === 'object') yield* nodes(node.items as Node, `${path}[]`);
  if (typeof node.additionalProperties === 'object') yield* nodes(node.additionalProperties as Node, `${path}.*`);
}

describe('CRDs from the JSON Schemas', () => {
  for (const crd of renderCustomResourceDefinitions()) {
    const schema = (crd.spec.versions as { schema: { openAPIV3Schema: Node } }[])[0]!.schema.openAPIV3Schema;

    it(`${crd.metadata.name}: every node has a type or keeps unknown fields, and nothing a CRD refuses`, () => {
      const problems: string[] = [];
      for (const [path, node] of nodes(schema)) {
        if (node.type === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) problems.push(`${path}: no type`);
        for (const refused of ['$ref', 'const', 'uniqueItems', 'definitions', '$schema']) if (refused in node) problems.push(`${path}: ${refused}`);
        if (node.additionalProperties === false) problems.push(`${path}: additionalProperties false`);
        if (node.properties !== undefined && node.additionalProperties !== undefined) problems.push(`${path}: properties and additionalProperties`);
      }
      assert.deepEqual(problems, []);
    });
  }

  it('keeps the checks an apiserver can make: enums, required fields, patterns, one-of branches', () => {
    const schema = crdSchema(
      {
        properties: {
          metadata: { properties: { name: { type: 'string', pattern: '^[a-z]+$' } } },
          spec: {
            type: 'object',
            additionalProperties: false,
            properties: {
              actions: { type: 'array', uniqueItems: true, items: { enum: ['Deny', 'Warn'] } },
              kind: { const: 'X' },
              params: { type: 'object' },
              thing: { $ref: '#/definitions/thing', description: 'refined' },
            },
          },
        },
        definitions: { thing: { type: 'object', required: ['a'], properties: { a: { type: 'string' }, v: {} }, oneOf: [{ required: ['a'] }] } },
      },
      'described',
    );
    assert.deepEqual(schema.properties, {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z]+$' } } },
      spec: {
        type: 'object',
        properties: {
          actions: { type: 'array', 'x-kubernetes-list-type': 'set', items: { enum: ['Deny', 'Warn'], type: 'string' } },
          kind: { enum: ['X'], type: 'string' },
          params: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          thing: {
            type: 'object',
            required: ['a'],
            properties: { a: { type: 'string' }, v: { 'x-kubernetes-preserve-unknown-fields': true } },
            oneOf: [{ required: ['a'] }],
            description: 'refined',
          },
        },
      },
      status: (schema.properties as Node).status,
    });
    assert.equal(schema.description, 'described');
  });
});
