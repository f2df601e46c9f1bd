import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../core/config.ts';

/**
 * Static checks of the Kubernetes manifests in k8s/: they parse, reference what exists, probe
 * the right ports and only set variables that core/config.ts reads. When kubectl is installed,
 * the kustomization is also built with `kubectl kustomize`.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const k8sDir = join(root, 'k8s');

const SERVICE_PORTS: Record<string, number> = {
  api: 3000,
  'supplier-bridge': 9101,
  persister: 9102,
  monitor: 9103,
};

type Manifest = Record<string, any>;

interface Doc {
  file: string;
  manifest: Manifest;
}

function yamlFiles(): string[] {
  return readdirSync(k8sDir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
}

function loadDocs(): Doc[] {
  const docs: Doc[] = [];
  for (const file of yamlFiles()) {
    for (const document of parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8'))) {
      assert.deepEqual(
        document.errors.map((e) => e.message),
        [],
        `${file}: YAML errors`,
      );
      const manifest = document.toJS() as Manifest | null;
      if (manifest !== null) docs.push({ file, manifest });
    }
  }
  return docs;
}

/** Every variable core/config.ts reads, taken from its source so a misspelt name fails here. */
function configVariables(): Set<string> {
  const source = readFileSync(join(root, 'core', 'config.ts'), 'utf8');
  const names = new Set<string>();
  for (const match of source.matchAll(/\br\.(?:int|string|bool|url|oneOf)\(\s*'([A-Z][A-Z0-9_]*)'/g)) {
    names.add(match[1]!);
  }
  return names;
}

function ofKind(docs: Doc[], kind: string): Doc[] {
  return docs.filter((d) => d.manifest.kind === kind);
}

function selects(selector: Manifest | undefined, labels: Record<string, string>): boolean {
  const matchLabels: Record<string, string> = selector?.matchLabels ?? selector ?? {};
  const entries = Object.entries(matchLabels);
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

test('the k8s manifests parse, fit together and only set variables core/config.ts reads', () => {
  const files = yamlFiles();
  for (const expected of [
    'kustomization.yaml',
    'namespace.yaml',
    'config.yaml',
    'secret.example.yaml',
    'api.yaml',
    'supplier-bridge.yaml',
    'persister.yaml',
    'monitor.yaml',
  ]) {
    assert.ok(files.includes(expected), `k8s/${expected} exists`);
  }

  const docs = loadDocs();
  for (const { file, manifest } of docs) {
    assert.equal(typeof manifest.apiVersion, 'string', `${file}: apiVersion`);
    assert.equal(typeof manifest.kind, 'string', `${file}: kind`);
    assert.equal(typeof manifest.metadata?.name, 'string', `${file}: metadata.name`);
  }

  // The kustomization lists existing files, never the example Secret.
  const [kustomization] = ofKind(docs, 'Kustomization');
  assert.ok(kustomization, 'a Kustomization');
  assert.equal(kustomization.manifest.namespace, 'pigeon');
  const resources: string[] = kustomization.manifest.resources;
  assert.ok(Array.isArray(resources) && resources.length > 0, 'kustomization resources');
  for (const resource of resources) {
    assert.ok(existsSync(join(k8sDir, resource)), `kustomization resource ${resource} exists`);
  }
  assert.ok(!resources.includes('secret.example.yaml'), 'the example Secret is not applied');

  const variables = configVariables();
  assert.ok(variables.has('PORT') && variables.has('KAFKA_BROKERS'), 'variables found in core/config.ts');

  const configMaps = new Map(ofKind(docs, 'ConfigMap').map((d) => [d.manifest.metadata.name, d.manifest]));
  const secrets = new Map(
    ofKind(docs, 'Secret')
      .filter((d) => d.file === 'secret.example.yaml')
      .map((d) => [d.manifest.metadata.name, d.manifest]),
  );
  for (const [name, configMap] of configMaps) {
    for (const key of Object.keys(configMap.data ?? {})) {
      assert.ok(variables.has(key), `ConfigMap ${name}: ${key} is not read by core/config.ts`);
    }
  }

  const deployments = ofKind(docs, 'Deployment');
  assert.deepEqual(
    deployments.map((d) => d.manifest.metadata.name).sort(),
    Object.keys(SERVICE_PORTS).sort(),
    'one Deployment per service',
  );

  for (const { file, manifest } of deployments) {
    const name: string = manifest.metadata.name;
    const where = `${file} Deployment ${name}`;
    const podLabels: Record<string, string> = manifest.spec.template.metadata.labels;
    assert.ok(selects(manifest.spec.selector, podLabels), `${where}: selector matches the pod labels`);

    const pod = manifest.spec.template.spec;
    assert.equal(pod.terminationGracePeriodSeconds, 30, `${where}: terminationGracePeriodSeconds`);
    assert.ok(pod.topologySpreadConstraints?.length > 0, `${where}: topologySpreadConstraints`);
    for (const constraint of pod.topologySpreadConstraints) {
      assert.ok(selects(constraint.labelSelector, podLabels), `${where}: spread selector matches the pods`);
    }
    const annotations = manifest.spec.template.metadata.annotations ?? {};
    assert.equal(annotations['prometheus.io/scrape'], 'true', `${where}: prometheus.io/scrape`);
    assert.equal(annotations['prometheus.io/path'], '/metrics', `${where}: prometheus.io/path`);

    assert.equal(pod.containers.length, 1, `${where}: one container`);
    const [container] = pod.containers;

    const command: string[] = [...(container.command ?? []), ...(container.args ?? [])];
    const service = command.find((word) => word in SERVICE_PORTS);
    assert.ok(service, `${where}: command names a service (${command.join(' ')})`);
    assert.match(command.join(' '), /\bdist\/bin\/cli\.js\b/, `${where}: runs the CLI`);

    const env: Array<{ name: string; value?: string }> = container.env ?? [];
    for (const variable of env) {
      assert.ok(variables.has(variable.name), `${where}: ${variable.name} is not read by core/config.ts`);
    }
    const portValue = env.find((e) => e.name === 'PORT')?.value;
    assert.ok(portValue, `${where}: sets PORT`);
    const port = Number(portValue);
    assert.equal(port, SERVICE_PORTS[service], `${where}: PORT is the ${service} port`);
    assert.equal(annotations['prometheus.io/port'], String(port), `${where}: prometheus.io/port is PORT`);

    const containerPorts: Array<{ name?: string; containerPort: number }> = container.ports ?? [];
    assert.ok(
      containerPorts.some((p) => p.containerPort === port),
      `${where}: declares containerPort ${port}`,
    );
    const resolvePort = (probePort: number | string) =>
      typeof probePort === 'number'
        ? probePort
        : containerPorts.find((p) => p.name === probePort)?.containerPort;
    const probes: Array<[string, string]> = [
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
      ['startupProbe', '/healthz'],
    ];
    for (const [probe, path] of probes) {
      const httpGet = container[probe]?.httpGet;
      assert.ok(httpGet, `${where}: ${probe} is an httpGet probe`);
      assert.equal(httpGet.path, path, `${where}: ${probe} path`);
      assert.equal(resolvePort(httpGet.port), port, `${where}: ${probe} port is PORT`);
    }

    assert.ok(container.resources?.limits?.cpu, `${where}: cpu limit`);
    assert.ok(container.resources?.limits?.memory, `${where}: memory limit`);
    assert.ok(container.resources?.requests?.cpu, `${where}: cpu request`);
    assert.ok(container.resources?.requests?.memory, `${where}: memory request`);

    const security = container.securityContext ?? {};
    assert.ok(
      security.runAsNonRoot === true || pod.securityContext?.runAsNonRoot === true,
      `${where}: runAsNonRoot`,
    );
    assert.equal(security.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
    assert.equal(security.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
    assert.deepEqual(security.capabilities?.drop, ['ALL'], `${where}: drops every capability`);
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);

    // envFrom points at the ConfigMap and the (example) Secret, whose keys are config variables too.
    const envFrom: Manifest[] = container.envFrom ?? [];
    const configMapRefs = envFrom.flatMap((e) => (e.configMapRef ? [e.configMapRef.name] : []));
    const secretRefs = envFrom.flatMap((e) => (e.secretRef ? [e.secretRef.name] : []));
    assert.ok(configMapRefs.length > 0 && secretRefs.length > 0, `${where}: envFrom ConfigMap and Secret`);
    for (const ref of configMapRefs) assert.ok(configMaps.has(ref), `${where}: ConfigMap ${ref} exists`);
    for (const ref of secretRefs) {
      const secret = secrets.get(ref);
      assert.ok(secret, `${where}: Secret ${ref} is in secret.example.yaml`);
      for (const key of Object.keys({ ...secret.data, ...secret.stringData })) {
        assert.ok(variables.has(key), `Secret ${ref}: ${key} is not read by core/config.ts`);
      }
    }
    for (const volume of pod.volumes ?? []) {
      if (volume.secret) {
        assert.ok(
          secrets.has(volume.secret.secretName),
          `${where}: Secret ${volume.secret.secretName} exists`,
        );
      }
    }

    // The ConfigMap plus this container's own env passes the real configuration check.
    // PIGEON_CONFIG names a file mounted in the pod, so it is left out here.
    const merged: Record<string, string | undefined> = {};
    for (const ref of configMapRefs) Object.assign(merged, configMaps.get(ref)?.data);
    for (const variable of env) if (variable.name !== 'PIGEON_CONFIG') merged[variable.name] = variable.value;
    assert.doesNotThrow(() => loadConfig(merged), `${where}: its configuration is valid`);

    // A Service and a PodDisruptionBudget select exactly these pods.
    const services = ofKind(docs, 'Service').filter((s) => selects(s.manifest.spec?.selector, podLabels));
    assert.equal(services.length, 1, `${where}: one Service selects its pods`);
    const budgets = ofKind(docs, 'PodDisruptionBudget').filter((b) =>
      selects(b.manifest.spec?.selector, podLabels),
    );
    assert.equal(budgets.length, 1, `${where}: one PodDisruptionBudget selects its pods`);
    const budget = budgets[0]!.manifest.spec;
    assert.ok(
      budget.minAvailable !== undefined || budget.maxUnavailable !== undefined,
      `${where}: the budget sets minAvailable or maxUnavailable`,
    );
    for (const { manifest: svc } of services) {
      for (const servicePort of svc.spec.ports) {
        assert.equal(resolvePort(servicePort.targetPort), port, `${where}: Service targets PORT`);
      }
    }

    if (service !== 'api') {
      const partitions = Number(configMaps.get(configMapRefs[0])?.data?.KAFKA_PARTITIONS);
      assert.ok(manifest.spec.replicas <= partitions, `${where}: replicas <= KAFKA_PARTITIONS`);
    }
  }

  // The api: 3 replicas behind port 80, autoscaled on CPU from 2 to 20, a preStop pause.
  const api = deployments.find((d) => d.manifest.metadata.name === 'api')!.manifest;
  assert.equal(api.spec.replicas, 3);
  assert.ok(api.spec.template.spec.containers[0].lifecycle?.preStop, 'api preStop');
  const apiService = ofKind(docs, 'Service').find((s) => s.manifest.metadata.name === 'api')!.manifest;
  assert.equal(apiService.spec.ports[0].port, 80);
  const [hpa] = ofKind(docs, 'HorizontalPodAutoscaler');
  assert.ok(hpa, 'an api HorizontalPodAutoscaler');
  assert.deepEqual(hpa.manifest.spec.scaleTargetRef, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: 'api',
  });
  assert.equal(hpa.manifest.spec.minReplicas, 2);
  assert.equal(hpa.manifest.spec.maxReplicas, 20);
  assert.equal(hpa.manifest.spec.metrics[0].resource.name, 'cpu');

  // The example API key is too short on purpose: applying the example as-is must not start an api.
  const exampleKey = secrets.get('pigeon-secrets')?.stringData?.PIGEON_API_KEY;
  assert.throws(() => loadConfig({ PIGEON_API_KEY: exampleKey }), /PIGEON_API_KEY/);

  // Build the kustomization too when kubectl is installed (no kubectl: the checks above stand alone).
  const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  if (kubectl.status === 0) {
    const built = spawnSync('kubectl', ['kustomize', k8sDir], { encoding: 'utf8' });
    assert.equal(built.status, 0, `kubectl kustomize k8s/ failed:\n${built.stderr}`);
    assert.doesNotMatch(built.stderr, /warning/i, 'kubectl kustomize k8s/ warns');
    const rendered = parseAllDocuments(built.stdout).map((d) => d.toJS() as Manifest);
    const kinds = rendered.map((m) => `${m.kind}/${m.metadata.name}`);
    for (const name of Object.keys(SERVICE_PORTS)) {
      assert.ok(kinds.includes(`Deployment/${name}`), `rendered Deployment/${name}`);
    }
    for (const manifest of rendered) {
      if (manifest.kind !== 'Namespace') assert.equal(manifest.metadata.namespace, 'pigeon');
      assert.equal(manifest.metadata.labels?.['app.kubernetes.io/part-of'], 'pigeon');
      if (manifest.kind === 'Deployment') {
        assert.equal(manifest.spec.template.metadata.labels['app.kubernetes.io/part-of'], 'pigeon');
      }
    }
  }
});
