// The AdmissionReview every webhook bench sends, to ours and to Bank-Vaults' alike: a Pod with three
// containers of 20 env variables each (5 `vault:` values, 5 inline `${vault:…}` values, 10 plain),
// annotated with Bank-Vaults' role annotation, which both webhooks act on. Every container has a
// `command`, so neither webhook looks up an image in a registry (that would leave the machine).

function container(name: string) {
  const env = Array.from({ length: 20 }, (_, i) => {
    if (i % 4 === 0) return { name: `SECRET_${i}`, value: `vault:secret/data/${name}#key${i}` };
    if (i % 4 === 1) {
      return {
        name: `URL_${i}`,
        value: `postgres://\${vault:secret/data/${name}/db#username}:\${vault:secret/data/${name}/db#password}@db/x`,
      };
    }
    return { name: `PLAIN_${i}`, value: `value-${i}` };
  });
  return {
    name,
    image: `registry.example/${name}:1`,
    command: [`/${name}`],
    args: ['--port', '8080'],
    env,
  };
}

export const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'bench',
    namespace: 'bench',
    annotations: { 'vault.security.banzaicloud.io/vault-role': 'bench' },
  },
  spec: {
    serviceAccountName: 'bench',
    containers: [container('app'), container('worker'), container('proxy')],
  },
};

export const review = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: '00000000-0000-4000-8000-000000000001',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    name: 'bench',
    namespace: 'bench',
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
    object: pod,
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
  },
};

export const body = JSON.stringify(review);

/** Whether an answer is an allowed review carrying a JSON patch (the pod was mutated). */
export function mutated(answer: string): boolean {
  try {
    const r = JSON.parse(answer) as { response?: { allowed?: boolean; patch?: string } };
    if (r.response?.allowed !== true || !r.response.patch) return false;
    const patch = JSON.parse(Buffer.from(r.response.patch, 'base64').toString('utf8')) as unknown;
    return Array.isArray(patch) && patch.length > 0;
  } catch {
    return false;
  }
}
