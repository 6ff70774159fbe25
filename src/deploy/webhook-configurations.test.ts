import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderWebhookConfigurations, type Webhook } from './webhook-configurations.js';

const SERVICE = { service: { name: 'daemonguard', namespace: 'daemonguard-system' } } as const;

function names(webhook: Webhook | undefined): { key: string; operator: string; values?: string[] }[] {
  return webhook?.namespaceSelector.matchExpressions ?? [];
}

describe('renderWebhookConfigurations', () => {
  it('sends only DaemonSet CREATE and UPDATE, never its own namespace or ignored ones', () => {
    const [validating, mutating] = renderWebhookConfigurations({ client: SERVICE });
    const all = [...validating.webhooks, ...mutating.webhooks];
    assert.equal(all.length, 3);
    for (const webhook of all) {
      assert.deepEqual(webhook.rules, [
        { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
      ]);
      assert.equal(webhook.sideEffects, 'None');
      assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
      assert.equal(webhook.matchPolicy, 'Equivalent');
      assert.equal(webhook.timeoutSeconds, 5);
      assert.deepEqual(names(webhook)[1], { key: 'daemonguard.dev/ignore', operator: 'NotIn', values: ['true'] });
      const byName = names(webhook)[0];
      assert.equal(byName?.key, 'kubernetes.io/metadata.name');
      // Own namespace: excluded by NotIn, or absent from an In list.
      assert.equal(byName?.operator === 'NotIn' ? byName.values?.includes('daemonguard-system') : !byName?.values?.includes('daemonguard-system'), true);
      assert.deepEqual(webhook.matchConditions, [{ name: 'not-being-deleted', expression: '!has(object.metadata.deletionTimestamp)' }]);
    }
    const [main, failOpen] = validating.webhooks;
    assert.equal(main?.failurePolicy, 'Fail');
    assert.deepEqual(names(main)[0]?.values, ['daemonguard-system', 'kube-system']);
    assert.equal(failOpen?.failurePolicy, 'Ignore');
    assert.deepEqual(names(failOpen)[0], { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-system'] });
    assert.equal(mutating.webhooks[0]?.failurePolicy, 'Ignore');
    assert.equal(mutating.webhooks[0]?.reinvocationPolicy, 'IfNeeded');
    assert.equal(main?.reinvocationPolicy, undefined);
    assert.equal(main?.clientConfig.caBundle, undefined);
  });

  it('keeps exclusions and fail-open namespaces apart, and drops the fail-open webhook when validation fails open', () => {
    const [validating, mutating] = renderWebhookConfigurations({
      client: SERVICE,
      namespace: 'guard',
      excludeNamespaces: ['monitoring', 'guard'],
      failOpenNamespaces: ['kube-system', 'calico-system', 'monitoring'],
      caBundle: 'Q0E=',
    });
    assert.deepEqual(names(validating.webhooks[0])[0]?.values, ['guard', 'monitoring', 'kube-system', 'calico-system']);
    assert.deepEqual(names(validating.webhooks[1])[0]?.values, ['kube-system', 'calico-system']);
    assert.deepEqual(names(mutating.webhooks[0])[0]?.values, ['guard', 'monitoring']);
    assert.equal(validating.webhooks[1]?.clientConfig.caBundle, 'Q0E=');

    const [lenient] = renderWebhookConfigurations({ client: SERVICE, validatingFailurePolicy: 'Ignore' });
    assert.equal(lenient.webhooks.length, 1);
    assert.equal(lenient.webhooks[0]?.failurePolicy, 'Ignore');
    assert.deepEqual(names(lenient.webhooks[0])[0]?.values, ['daemonguard-system']);
    const [strict] = renderWebhookConfigurations({ client: SERVICE, failOpenNamespaces: [] });
    assert.equal(strict.webhooks.length, 1);
    assert.equal(strict.webhooks[0]?.failurePolicy, 'Fail');
  });

  it('calls a URL for webhooks outside the cluster, and refuses what the apiserver would', () => {
    const [validating, mutating] = renderWebhookConfigurations({ client: { url: 'https://127.0.0.1:8443/' } });
    assert.deepEqual(validating.webhooks[0]?.clientConfig, { url: 'https://127.0.0.1:8443/validate' });
    assert.deepEqual(mutating.webhooks[0]?.clientConfig, { url: 'https://127.0.0.1:8443/mutate' });
    assert.equal(renderWebhookConfigurations({ client: { url: 'https://[::1]:9443/hooks' } })[0].webhooks[0]?.clientConfig.url, 'https://[::1]:9443/hooks/validate');
    assert.throws(() => renderWebhookConfigurations({ client: { url: 'http://127.0.0.1' } }), /https only/);
    assert.throws(() => renderWebhookConfigurations({ client: { url: 'https://u:p@127.0.0.1' } }), /user information/);
    assert.throws(() => renderWebhookConfigurations({ client: SERVICE, timeoutSeconds: 31 }), /1 to 30/);
  });
});
