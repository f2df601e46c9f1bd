import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../core/config.ts';
import { heapArgs, SERVICE_HEAP_MIB } from '../bin/service-heap.ts';
import { topicSpecs } from '../core/runtime.ts';
import { ALL_TOPICS, LANE_TOPICS, SEND_TOPICS } from '../core/topics.ts';
import { renderKustomization } from './k8s/kustomize.ts';
import { schemaErrors } from './k8s/schemas.ts';

/**
 * Static checks of the Kubernetes manifests in k8s/: the base parses, references what exists,
 * probes the right ports and only sets variables that core/config.ts reads; the dev and prod
 * overlays render (test/k8s/kustomize.ts, the same objects as `kubectl kustomize`) into
 * manifests that each validate against their Kubernetes or CRD schema (test/k8s/schemas/), and
 * prod has the Kafka, topics, autoscaling, policies and monitoring a production deployment needs.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const k8sDir = join(root, 'k8s');
const baseDir = join(k8sDir, 'base');
const OVERLAYS = ['dev', 'prod'] as const;

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
  return readdirSync(baseDir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
}

/** The base's files and the example Secrets beside it, as written (not rendered). */
function loadDocs(): Doc[] {
  const docs: Doc[] = [];
  for (const file of [
    ...yamlFiles().map((name) => join(baseDir, name)),
    join(k8sDir, 'secret.example.yaml'),
  ]) {
    for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
      assert.deepEqual(
        document.errors.map((e) => e.message),
        [],
        `${file}: YAML errors`,
      );
      const manifest = document.toJS() as Manifest | null;
      if (manifest !== null) docs.push({ file: file.slice(k8sDir.length + 1), manifest });
    }
  }
  return docs;
}

/** Every variable core/config.ts reads, taken from its source so a misspelt name fails here. */
function configVariables(): Set<string> {
  const source = readFileSync(join(root, 'core', 'config.ts'), 'utf8');
  const names = new Set<string>();
  for (const match of source.matchAll(/\br\.(?:int|string|bool|url|oneOf|someOf)\(\s*'([A-Z][A-Z0-9_]*)'/g)) {
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

test('the k8s base parses, fits together and only sets variables core/config.ts reads', () => {
  const files = yamlFiles();
  for (const expected of [
    'kustomization.yaml',
    'namespace.yaml',
    'config.yaml',
    'api.yaml',
    'supplier-bridge.yaml',
    'persister.yaml',
    'monitor.yaml',
    'network-policies.yaml',
  ]) {
    assert.ok(files.includes(expected), `k8s/base/${expected} exists`);
  }
  assert.ok(existsSync(join(k8sDir, 'secret.example.yaml')), 'k8s/secret.example.yaml exists');

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
    assert.ok(existsSync(join(baseDir, resource)), `kustomization resource ${resource} exists`);
  }
  assert.ok(!resources.some((r) => r.includes('secret.example')), 'the example Secret is not applied');

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
    [...Object.keys(SERVICE_PORTS), 'supplier-bridge-high'].sort(),
    'one Deployment per service, and the high lane its own bridges',
  );
  // Every lane and the delay topics have a bridge pool reading them (PIGEON_BRIDGE_LANES; unset: all).
  const bridgeLanes = deployments
    .filter((d) => d.manifest.spec.template.spec.containers[0].command.includes('supplier-bridge'))
    .flatMap((d) => {
      const env: Array<{ name: string; value?: string }> =
        d.manifest.spec.template.spec.containers[0].env ?? [];
      const lanes = env.find((e) => e.name === 'PIGEON_BRIDGE_LANES')?.value;
      return lanes === undefined
        ? loadConfig({}).bridge.lanes
        : loadConfig({ PIGEON_BRIDGE_LANES: lanes }).bridge.lanes;
    });
  assert.deepEqual(
    [...new Set(bridgeLanes)].sort(),
    ['bulk', 'delay', 'high', 'normal'],
    'every lane is read',
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
});

const rendered = new Map(
  OVERLAYS.map((overlay) => [overlay, renderKustomization(join(k8sDir, 'overlays', overlay))]),
);

function renderedOf(overlay: (typeof OVERLAYS)[number], kind: string): Manifest[] {
  return rendered.get(overlay)!.filter((m) => m.kind === kind);
}

function named(manifests: Manifest[], name: string): Manifest {
  const found = manifests.find((m) => m.metadata.name === name);
  assert.ok(found, `${name} is rendered`);
  return found;
}

test('every manifest the dev and prod overlays render validates against its Kubernetes or CRD schema', () => {
  for (const [overlay, manifests] of rendered) {
    assert.ok(manifests.length > 0, `${overlay} renders`);
    for (const manifest of manifests) {
      assert.deepEqual(schemaErrors(manifest), [], `${overlay}: ${manifest.kind} ${manifest.metadata.name}`);
    }
  }
  for (const { file, manifest } of loadDocs().filter((d) => d.file === 'secret.example.yaml')) {
    assert.deepEqual(schemaErrors(manifest), [], `${file}: ${manifest.metadata.name}`);
  }
});

test('the schema check rejects an unknown field, a wrong type and a value a CRD does not allow', () => {
  const prod = rendered.get('prod')!;
  const deployment = structuredClone(named(renderedOf('prod', 'Deployment'), 'api'));
  deployment.spec.template.spec.containers[0].livenesProbe =
    deployment.spec.template.spec.containers[0].livenessProbe;
  deployment.spec.template.spec.terminationGracePeriodSeconds = '30';
  const errors = schemaErrors(deployment).join('\n');
  assert.match(errors, /livenesProbe/);
  assert.match(errors, /terminationGracePeriodSeconds must be integer/);

  const topic = structuredClone(prod.find((m) => m.kind === 'KafkaTopic')!);
  topic.spec.replica = 3;
  assert.match(schemaErrors(topic).join('\n'), /additionalProperty":"replica"/);
  const kafka = structuredClone(prod.find((m) => m.kind === 'Kafka')!);
  kafka.spec.kafka.listeners[0].type = 'plaintext';
  assert.match(
    schemaErrors(kafka).join('\n'),
    /listeners\/0\/type must be equal to one of the allowed values/,
  );
  const scaled = structuredClone(prod.find((m) => m.kind === 'ScaledObject')!);
  scaled.metadata.labelz = {};
  assert.match(schemaErrors(scaled).join('\n'), /^\/metadata must NOT have additional properties/m);
  assert.deepEqual(schemaErrors({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), [
    'no schema for example.com/v1 Widget in test/k8s/schemas/',
  ]);
});

test('test/k8s/kustomize.ts renders the same objects as kubectl kustomize, where kubectl is installed', () => {
  const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  // CI needs no kubectl; the renderer is held to kubectl's output wherever a developer has one.
  if (kubectl.status !== 0) return;
  const key = (m: Manifest) => `${m.kind} ${m.metadata.namespace ?? ''}/${m.metadata.name}`;
  for (const dir of ['base', 'kafka', 'monitoring', ...OVERLAYS.map((o) => `overlays/${o}`)]) {
    const built = spawnSync('kubectl', ['kustomize', join(k8sDir, dir)], { encoding: 'utf8' });
    assert.equal(built.status, 0, `kubectl kustomize k8s/${dir} failed:\n${built.stderr}`);
    assert.doesNotMatch(built.stderr, /warning/i, `kubectl kustomize k8s/${dir} warns`);
    const theirs = parseAllDocuments(built.stdout).map((d) => d.toJS() as Manifest);
    const ours = renderKustomization(join(k8sDir, dir));
    assert.deepEqual(
      new Map(ours.map((m) => [key(m), m])),
      new Map(theirs.map((m) => [key(m), m])),
      `k8s/${dir}`,
    );
  }
});

test('every object is labelled part-of pigeon and lives in the pigeon or kafka namespace', () => {
  for (const [overlay, manifests] of rendered) {
    for (const manifest of manifests) {
      const where = `${overlay}: ${manifest.kind} ${manifest.metadata.name}`;
      assert.equal(manifest.metadata.labels?.['app.kubernetes.io/part-of'], 'pigeon', where);
      if (manifest.kind !== 'Namespace')
        assert.ok(['pigeon', 'kafka'].includes(manifest.metadata.namespace), where);
    }
    for (const deployment of renderedOf(overlay, 'Deployment')) {
      assert.equal(deployment.spec.template.metadata.labels['app.kubernetes.io/part-of'], 'pigeon');
    }
  }
});

test('prod runs a KRaft Kafka of 3 brokers and 3 controllers spread over zones', () => {
  const [kafka, ...others] = renderedOf('prod', 'Kafka');
  assert.ok(kafka && others.length === 0, 'one Kafka');
  assert.equal(kafka.metadata.name, 'pigeon');
  const config = renderedOf('prod', 'ConfigMap').find((m) => m.metadata.name === 'pigeon-config')!.data;
  const plain = kafka.spec.kafka.listeners.find((l: Manifest) => l.tls === false);
  assert.equal(
    config.KAFKA_BROKERS,
    `${kafka.metadata.name}-kafka-bootstrap.${kafka.metadata.namespace}.svc:${plain.port}`,
  );
  assert.equal(kafka.spec.kafka.config['min.insync.replicas'], 2);
  assert.equal(kafka.spec.kafka.config['default.replication.factor'], 3);
  assert.equal(kafka.spec.kafka.config['unclean.leader.election.enable'], false);
  assert.equal(kafka.spec.kafka.rack.topologyKey, 'topology.kubernetes.io/zone');
  assert.ok(kafka.spec.entityOperator.topicOperator, 'the topic operator reconciles the KafkaTopics');

  const pools = renderedOf('prod', 'KafkaNodePool');
  for (const pool of pools) assert.equal(pool.metadata.labels['strimzi.io/cluster'], kafka.metadata.name);
  const replicasWith = (role: string) =>
    pools.filter((p) => p.spec.roles.includes(role)).reduce((sum, p) => sum + p.spec.replicas, 0);
  assert.equal(replicasWith('broker'), 3, 'three brokers');
  assert.equal(replicasWith('controller'), 3, 'a quorum of three controllers');
  for (const pool of pools) {
    const [spread] = pool.spec.template.pod.topologySpreadConstraints;
    assert.equal(
      spread.topologyKey,
      'topology.kubernetes.io/zone',
      `${pool.metadata.name} spreads over zones`,
    );
    assert.equal(spread.whenUnsatisfiable, 'DoNotSchedule', `${pool.metadata.name}: zones are a hard rule`);
    assert.equal(spread.labelSelector.matchLabels['strimzi.io/pool-name'], pool.metadata.name);
  }
});

test('prod has a KafkaTopic for every topic of core/topics.ts: its config, 3 replicas, min ISR 2, a retention', () => {
  const config = renderedOf('prod', 'ConfigMap').find((m) => m.metadata.name === 'pigeon-config')!.data;
  const partitions = Number(config.KAFKA_PARTITIONS);
  const topics = renderedOf('prod', 'KafkaTopic');
  assert.deepEqual(topics.map((t) => t.spec.topicName).sort(), [...ALL_TOPICS].sort());
  for (const spec of topicSpecs(partitions)) {
    const topic = topics.find((t) => t.spec.topicName === spec.name)!;
    const where = `KafkaTopic ${spec.name}`;
    assert.equal(topic.metadata.namespace, 'kafka', where);
    assert.equal(topic.metadata.labels['strimzi.io/cluster'], 'pigeon', where);
    assert.equal(topic.spec.partitions, spec.partitions, `${where}: KAFKA_PARTITIONS partitions`);
    assert.equal(topic.spec.replicas, 3, where);
    assert.equal(topic.spec.config['min.insync.replicas'], 2, where);
    for (const [key, value] of Object.entries(spec.config ?? {})) {
      assert.equal(String(topic.spec.config[key]), value, `${where}: ${key} as the services create it`);
    }
    const compactedOnly = topic.spec.config['cleanup.policy'] === 'compact';
    assert.ok(compactedOnly || topic.spec.config['retention.ms'] > 0, `${where}: a retention`);
  }
  // A send waits in its lane at most as long as the longest delay topic holds it, and far less
  // than the lane keeps it.
  for (const lane of SEND_TOPICS) {
    assert.ok(topics.find((t) => t.spec.topicName === lane)!.spec.config['retention.ms'] >= 7 * 86_400_000);
  }
});

/** The lane whose send topic `topic` is. */
const laneOf = (topic: string) => Object.entries(LANE_TOPICS).find(([, name]) => name === topic)?.[0];

test('prod scales the bridge and the persister on consumer lag with KEDA, and the api on CPU', () => {
  const config = renderedOf('prod', 'ConfigMap').find((m) => m.metadata.name === 'pigeon-config')!.data;
  const groupPrefix = loadConfig(config).kafka?.groupPrefix ?? 'pigeon';
  const partitions = Number(config.KAFKA_PARTITIONS);
  const scaled = renderedOf('prod', 'ScaledObject');
  const groups: Record<string, string> = {
    'supplier-bridge': `${groupPrefix}-bridge`,
    'supplier-bridge-high': `${groupPrefix}-bridge`,
    persister: `${groupPrefix}-persister`,
  };
  assert.deepEqual(scaled.map((s) => s.spec.scaleTargetRef.name).sort(), Object.keys(groups).sort());
  for (const object of scaled) {
    const target: string = object.spec.scaleTargetRef.name;
    assert.ok(object.spec.minReplicaCount >= 2, `${target}: one replica may die without a pause`);
    assert.ok(object.spec.maxReplicaCount <= partitions, `${target}: no more consumers than partitions`);
    assert.ok(object.spec.triggers.length > 0);
    for (const trigger of object.spec.triggers) {
      assert.equal(trigger.type, 'kafka');
      assert.equal(
        trigger.metadata.bootstrapServers,
        config.KAFKA_BROKERS,
        `${target}: the brokers the services use`,
      );
      // The bridge reads each lane with a group of its own (supplier-bridge/src/bridge.ts).
      const group = target.startsWith('supplier-bridge')
        ? `${groups[target]}.${laneOf(trigger.metadata.topic)}`
        : groups[target];
      assert.equal(trigger.metadata.consumerGroup, group, `${target}: the consumer group that reads it`);
      if (trigger.metadata.topic)
        assert.ok(ALL_TOPICS.includes(trigger.metadata.topic), trigger.metadata.topic);
    }
  }
  const topicsOf = (name: string): string[] =>
    named(scaled, name).spec.triggers.map((t: Manifest) => t.metadata.topic);
  assert.deepEqual(topicsOf('supplier-bridge-high'), [LANE_TOPICS.high], 'the high pool scales on codes');
  assert.deepEqual(
    [...topicsOf('supplier-bridge'), ...topicsOf('supplier-bridge-high')].sort(),
    [...SEND_TOPICS].sort(),
    'the bridges scale on every lane',
  );

  const [hpa] = renderedOf('prod', 'HorizontalPodAutoscaler');
  assert.equal(hpa?.spec.scaleTargetRef.name, 'api');
  // Autoscalers own these counts: a replicas field would reset them on every apply.
  for (const name of ['api', 'supplier-bridge', 'supplier-bridge-high', 'persister']) {
    assert.equal(
      named(renderedOf('prod', 'Deployment'), name).spec.replicas,
      undefined,
      `${name}: no replicas`,
    );
  }
  assert.equal(
    named(renderedOf('prod', 'Deployment'), 'monitor').spec.replicas,
    2,
    'a monitor and a warm standby',
  );
});

test('prod pods spread over zones as a hard rule, have a disruption budget and drain within their grace', () => {
  // Every service drains within the delay close-with-grace is given (core/service-host.ts).
  const host = readFileSync(join(root, 'core', 'service-host.ts'), 'utf8');
  const drainMs = Number(/closeWithGrace\(\{ delay: ([\d_]+)/.exec(host)?.[1]?.replaceAll('_', ''));
  assert.ok(drainMs > 0, 'the drain delay is found');
  const budgets = renderedOf('prod', 'PodDisruptionBudget');
  for (const deployment of renderedOf('prod', 'Deployment')) {
    const name: string = deployment.metadata.name;
    const pod = deployment.spec.template.spec;
    const zone = pod.topologySpreadConstraints.find(
      (c: Manifest) => c.topologyKey === 'topology.kubernetes.io/zone',
    );
    assert.equal(zone?.whenUnsatisfiable, 'DoNotSchedule', `${name}: zone spread`);
    assert.ok(
      budgets.some((b) => selects(b.spec.selector, deployment.spec.template.metadata.labels)),
      `${name}: a PodDisruptionBudget`,
    );
    const preStop = Number(pod.containers[0].lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    assert.ok(
      pod.terminationGracePeriodSeconds * 1000 >= preStop * 1000 + drainMs,
      `${name}: ${pod.terminationGracePeriodSeconds} s covers the preStop pause and the drain`,
    );
  }
});

test('no overlay inlines a Secret; every Secret a pod reads is one secret.example.yaml describes', () => {
  const examples = new Set(
    loadDocs()
      .filter((d) => d.file === 'secret.example.yaml')
      .map((d) => d.manifest.metadata.name as string),
  );
  const secretKeys = new Set(
    loadDocs()
      .filter((d) => d.file === 'secret.example.yaml')
      .flatMap((d) => Object.keys(d.manifest.stringData ?? {})),
  );
  for (const [overlay, manifests] of rendered) {
    assert.deepEqual(renderedOf(overlay, 'Secret'), [], `${overlay} renders no Secret`);
    for (const configMap of renderedOf(overlay, 'ConfigMap')) {
      for (const key of Object.keys(configMap.data ?? {})) {
        assert.ok(
          !secretKeys.has(key),
          `${overlay}: ConfigMap ${configMap.metadata.name} holds the secret ${key}`,
        );
      }
    }
    for (const deployment of manifests.filter((m) => m.kind === 'Deployment')) {
      const pod = deployment.spec.template.spec;
      const referenced = [
        ...pod.containers.flatMap((c: Manifest) => (c.envFrom ?? []).map((e: Manifest) => e.secretRef?.name)),
        ...(pod.volumes ?? []).map((v: Manifest) => v.secret?.secretName),
      ].filter(Boolean);
      for (const name of referenced)
        assert.ok(examples.has(name), `${deployment.metadata.name}: Secret ${name}`);
      for (const variable of pod.containers.flatMap((c: Manifest) => c.env ?? [])) {
        assert.ok(!secretKeys.has(variable.name), `${deployment.metadata.name}: ${variable.name} inlined`);
      }
    }
  }
});

test('network policies deny by default and let through DNS, the infrastructure, the api port and scrapes', () => {
  for (const overlay of OVERLAYS) {
    const policies = renderedOf(overlay, 'NetworkPolicy');
    const deny = named(policies, 'default-deny');
    assert.deepEqual(deny.spec.podSelector, {}, 'selects every pod');
    assert.deepEqual(deny.spec.policyTypes.sort(), ['Egress', 'Ingress']);
    assert.equal(deny.spec.ingress, undefined);
    assert.equal(deny.spec.egress, undefined);

    const config = renderedOf(overlay, 'ConfigMap').find((m) => m.metadata.name === 'pigeon-config')!.data;
    const kafkaPort = Number(config.KAFKA_BROKERS.split(',')[0].split(':').at(-1));
    const redisPort = Number(new URL(config.REDIS_URL).port || 6379);
    const egressPorts = new Set(
      named(policies, 'allow-infrastructure').spec.egress.flatMap((rule: Manifest) =>
        rule.ports.map((p: Manifest) => p.port),
      ),
    );
    for (const port of [kafkaPort, redisPort])
      assert.ok(egressPorts.has(port), `${overlay}: egress to ${port}`);
    const dns = named(policies, 'allow-dns').spec.egress[0].ports.map(
      (p: Manifest) => `${p.protocol}/${p.port}`,
    );
    assert.deepEqual(dns.sort(), ['TCP/53', 'UDP/53']);

    // Each service's port is open to the scraper, and the api's to its clients.
    const scraped = new Set(
      named(policies, 'allow-metrics-scrape').spec.ingress[0].ports.map((p: Manifest) => p.port),
    );
    for (const [service, port] of Object.entries(SERVICE_PORTS))
      assert.ok(scraped.has(port), `${service} scraped`);
    const apiIngress = named(policies, 'allow-api-ingress');
    assert.equal(apiIngress.spec.podSelector.matchLabels['app.kubernetes.io/name'], 'api');
    assert.deepEqual(apiIngress.spec.ingress[0].ports, [{ protocol: 'TCP', port: SERVICE_PORTS.api }]);
  }
});

test('the prod ServiceMonitor scrapes /metrics of every service, and the alert rules ship with it', () => {
  const [monitor] = renderedOf('prod', 'ServiceMonitor');
  assert.ok(monitor, 'a ServiceMonitor');
  const [rules] = renderedOf('prod', 'PrometheusRule');
  assert.ok(rules, 'the PrometheusRule');
  assert.equal(monitor.metadata.labels.release, rules.metadata.labels.release, 'one operator selects both');
  const [endpoint] = monitor.spec.endpoints;
  assert.equal(endpoint.path, '/metrics');
  for (const name of Object.keys(SERVICE_PORTS)) {
    const service = named(renderedOf('prod', 'Service'), name);
    const labels: Record<string, string> = service.metadata.labels;
    const matches = monitor.spec.selector.matchExpressions.every(
      (e: Manifest) => e.operator === 'In' && e.values.includes(labels[e.key]),
    );
    assert.ok(matches, `the ServiceMonitor selects Service ${name}`);
    assert.ok(monitor.spec.namespaceSelector.matchNames.includes(service.metadata.namespace));
    assert.ok(
      service.spec.ports.some((p: Manifest) => p.name === endpoint.port),
      `Service ${name} has the ${endpoint.port} port`,
    );
  }
});

test('dev runs one replica of each service from the locally built image, with no operator kinds', () => {
  for (const deployment of renderedOf('dev', 'Deployment')) {
    assert.equal(deployment.spec.replicas, 1, deployment.metadata.name);
    assert.equal(deployment.spec.template.spec.containers[0].image, 'pigeon:dev');
  }
  const kinds = new Set(rendered.get('dev')!.map((m) => m.kind));
  for (const kind of ['Kafka', 'KafkaTopic', 'ScaledObject', 'ServiceMonitor', 'PrometheusRule']) {
    assert.ok(!kinds.has(kind), `dev needs no operator for ${kind}`);
  }
  assert.doesNotThrow(() =>
    loadConfig(renderedOf('dev', 'ConfigMap').find((m) => m.metadata.name === 'pigeon-config')!.data),
  );
  for (const deployment of renderedOf('prod', 'Deployment')) {
    assert.match(
      deployment.spec.template.spec.containers[0].image,
      /^ghcr\.io\/pigeon-sms\/pigeon:\d+\.\d+\.\d+$/,
    );
  }
});

test('the data stores (TidbCluster, RedisCluster) render and validate against their operators’ CRD schemas', () => {
  const manifests = renderKustomization(join(k8sDir, 'data-stores'));
  assert.deepEqual(manifests.map((m) => m.kind).sort(), ['Namespace', 'RedisCluster', 'TidbCluster']);
  for (const manifest of manifests) {
    assert.deepEqual(schemaErrors(manifest), [], `data-stores: ${manifest.kind} ${manifest.metadata.name}`);
  }
  const tidb = manifests.find((m) => m.kind === 'TidbCluster')!;
  for (const component of ['pd', 'tikv', 'tidb']) {
    assert.equal(tidb.spec[component].replicas, 3, `three ${component}`);
  }
  assert.deepEqual(tidb.spec.topologySpreadConstraints, [{ topologyKey: 'topology.kubernetes.io/zone' }]);
  const redis = manifests.find((m) => m.kind === 'RedisCluster')!;
  assert.equal(redis.spec.clusterSize, 3);
  assert.equal(redis.spec.redisFollower.replicas, 3, 'a replica per master, for WAIT and failover');
  assert.ok(redis.spec.redisLeader.redisConfig.dynamicConfig.includes('cluster-require-full-coverage no'));
  // A schema that is really there: a misspelt field is refused.
  assert.match(
    schemaErrors({ ...tidb, spec: { ...tidb.spec, pd: { ...tidb.spec.pd, replica: 3 } } }).join('\n'),
    /additionalProperty":"replica"/,
  );
});

/** A Kubernetes memory quantity in MiB (Mi and Gi, the only units the manifests use). */
function mebibytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  assert.ok(match, `memory quantity ${quantity}`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

test('every service caps its V8 heap at the figure of bin/service-heap.ts, at most half its memory limit', () => {
  for (const overlay of OVERLAYS) {
    const seen = new Set<string>();
    for (const deployment of renderedOf(overlay, 'Deployment')) {
      const container = deployment.spec.template.spec.containers[0];
      const [node, ...args] = container.command as string[];
      const service = args.at(-1)!;
      const where = `${overlay} ${deployment.metadata.name}`;
      assert.equal(node, 'node', where);
      assert.deepEqual(args, [...heapArgs(service), 'dist/bin/cli.js', service], where);
      const cap = SERVICE_HEAP_MIB[service as keyof typeof SERVICE_HEAP_MIB];
      const limit = mebibytes(container.resources.limits.memory);
      assert.ok(cap * 2 <= limit, `${where}: a ${cap} MiB heap leaves half of its ${limit} MiB limit`);
      seen.add(service);
    }
    assert.deepEqual([...seen].sort(), Object.keys(SERVICE_HEAP_MIB).sort(), `${overlay} runs every service`);
  }
  assert.deepEqual(heapArgs('bridge'), heapArgs('supplier-bridge'));
  assert.deepEqual(heapArgs('embedded'), []);
});
