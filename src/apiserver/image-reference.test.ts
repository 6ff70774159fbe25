// Expected policies were produced by github.com/distribution/reference v0.6.0 with the logic of
// Kubernetes' parsers.ParseImageName and SetDefaults_Container (v1.37.2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultImagePullPolicy, parseImageReference } from './image-reference.js';

const HEX = 'a'.repeat(64);
const VECTORS: [string, 'Always' | 'IfNotPresent'][] = [
  ['', 'IfNotPresent'],
  ['Nginx:1.0', 'IfNotPresent'],
  ['REGISTRY.io/foo', 'Always'],
  ['[::1]:5000/foo', 'Always'],
  ['a___b', 'IfNotPresent'],
  ['a__b/c--d:1', 'IfNotPresent'],
  [`${HEX}`, 'IfNotPresent'],
  ['docker.io/nginx', 'Always'],
  ['foo bar', 'IfNotPresent'],
  ['foo/Bar:1', 'IfNotPresent'],
  ['foo:bar:baz', 'IfNotPresent'],
  ['gcr.io/distroless/static:nonroot', 'IfNotPresent'],
  ['index.docker.io/library/nginx:latest', 'Always'],
  ['localhost/foo', 'Always'],
  ['localhost:5000/foo:latest', 'Always'],
  ['my.registry/a/b/c:latest', 'Always'],
  ['nginx', 'Always'],
  ['nginx:', 'IfNotPresent'],
  ['nginx:1.27', 'IfNotPresent'],
  [`nginx:1.2@sha256:${HEX}`, 'IfNotPresent'],
  ['nginx:latest', 'Always'],
  [`nginx:latest@sha256:${HEX}`, 'Always'],
  [`nginx@SHA256:${HEX}`, 'IfNotPresent'],
  [`nginx@md5:${HEX}`, 'IfNotPresent'],
  ['nginx@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'IfNotPresent'],
  [`nginx@sha256:${HEX}`, 'IfNotPresent'],
  ['nginx@sha256:abc', 'IfNotPresent'],
  [`nginx@sha512:${HEX}${HEX}`, 'IfNotPresent'],
  ['quay.io/prometheus/node-exporter:v1.8.2', 'IfNotPresent'],
  ['registry.example.com:5000/team/agent', 'Always'],
  ['registry.example.com:5000/team/agent:v1', 'IfNotPresent'],
  ['ubuntu:LATEST', 'IfNotPresent'],
];

describe('imagePullPolicy defaulting', () => {
  it('matches Kubernetes for every vector', () => {
    for (const [image, expected] of VECTORS) assert.equal(defaultImagePullPolicy(image), expected, image);
  });

  it('normalizes Docker Hub names', () => {
    assert.deepEqual(parseImageReference('nginx:1.27'), { repository: 'docker.io/library/nginx', tag: '1.27' });
    assert.equal(parseImageReference('quay.io/prometheus/node-exporter')?.repository, 'quay.io/prometheus/node-exporter');
  });
});
