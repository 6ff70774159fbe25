// A kubeconfig for a plain-HTTP stand-in of the kube-apiserver (the informer unit tests).
import { KubeConfig } from '../../src/kube/kube-config.js';

export function kubeConfigFor(server: string): KubeConfig {
  return new KubeConfig({
    clusters: [{ name: 'fake', server }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
}
