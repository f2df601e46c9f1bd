/**
 * Writes the vendored schemas of test/k8s/schemas/ from their upstream sources (README.md there
 * names them): the Kubernetes OpenAPI definitions the kinds below reach, and the served versions of
 * the listed CustomResourceDefinitions. Only `description`s are dropped; nothing is loosened.
 *
 *   node --import tsx test/k8s/schemas/vendor.ts <swagger.json> <crd.yaml>…
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The built-in kinds Pigeon's manifests use, by apiVersion/kind. */
const KINDS = [
  'v1/Namespace',
  'v1/ConfigMap',
  'v1/Secret',
  'v1/Service',
  'v1/ServiceAccount',
  'apps/v1/Deployment',
  'autoscaling/v2/HorizontalPodAutoscaler',
  'policy/v1/PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy',
];
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

type Schema = Record<string, unknown>;
interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

function withoutDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDescriptions);
  if (value === null || typeof value !== 'object') return value;
  const out: Schema = {};
  for (const [key, inner] of Object.entries(value)) {
    // `description` is documentation, unless it names a property of the schema.
    if (key === 'description' && typeof inner === 'string') continue;
    out[key] = withoutDescriptions(inner);
  }
  return out;
}

function refs(value: unknown, found: Set<string>): void {
  if (Array.isArray(value)) for (const inner of value) refs(inner, found);
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === '$ref' && typeof inner === 'string') found.add(inner.replace('#/definitions/', ''));
      else refs(inner, found);
    }
  }
}

/** The served versions of the CRDs in `paths`, by apiVersion/kind. */
function crdSchemas(paths: readonly string[]): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  for (const path of paths) {
    for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
      const crd = document.toJS() as {
        spec: { group: string; names: { kind: string }; versions: Array<Schema & { name: string }> };
      };
      for (const version of crd.spec.versions) {
        if (version.served !== true) continue;
        const schema = (version.schema as { openAPIV3Schema: Schema }).openAPIV3Schema;
        schemas[`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`] = withoutDescriptions(schema);
      }
    }
  }
  return schemas;
}

const here = fileURLToPath(new URL('.', import.meta.url));

// `--data-stores <crd.yaml>…`: the operators' CRDs of the data stores (TiDB, Redis) alone, kept
// apart from custom-resources.json so either can be regenerated without the other's sources.
if (process.argv[2] === '--data-stores') {
  const schemas = crdSchemas(process.argv.slice(3));
  writeFileSync(join(here, 'data-stores.json'), `${JSON.stringify(schemas)}\n`);
  console.log(`${Object.keys(schemas).length} custom resources`);
  process.exit(0);
}

const [swaggerPath, ...crdPaths] = process.argv.slice(2);
if (!swaggerPath) throw new Error('usage: vendor.ts <swagger.json> <crd.yaml>… | --data-stores <crd.yaml>…');
const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8')) as { definitions: Record<string, Schema> };

const kinds: Record<string, string> = {};
for (const [name, definition] of Object.entries(swagger.definitions)) {
  for (const gvk of (definition['x-kubernetes-group-version-kind'] ?? []) as GroupVersionKind[]) {
    const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
    if (KINDS.includes(`${apiVersion}/${gvk.kind}`)) kinds[`${apiVersion}/${gvk.kind}`] = name;
  }
}
for (const kind of KINDS) if (!kinds[kind]) throw new Error(`${kind} is not in ${swaggerPath}`);

const keep = new Set<string>([...Object.values(kinds), OBJECT_META]);
for (let grown = true; grown; ) {
  grown = false;
  for (const name of [...keep]) {
    const found = new Set<string>();
    refs(swagger.definitions[name], found);
    for (const ref of found) {
      if (keep.has(ref)) continue;
      keep.add(ref);
      grown = true;
    }
  }
}
const definitions: Record<string, unknown> = {};
for (const name of [...keep].sort()) definitions[name] = withoutDescriptions(swagger.definitions[name]);

const customResources = crdSchemas(crdPaths);

writeFileSync(join(here, 'kubernetes.json'), `${JSON.stringify({ kinds, definitions })}\n`);
writeFileSync(join(here, 'custom-resources.json'), `${JSON.stringify(customResources)}\n`);
console.log(`${Object.keys(definitions).length} definitions, ${Object.keys(customResources).length} custom resources`);
