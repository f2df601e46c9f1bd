/**
 * Validates rendered manifests against the vendored schemas of test/k8s/schemas/ (README.md
 * there says where they come from), as strictly as kubeconform's -strict: a field the schema
 * does not declare is an error, not silently dropped by the API server.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

type Schema = Record<string, any>;
type Manifest = Record<string, any>;

const schemaFile = (name: string) => JSON.parse(readFileSync(new URL(`schemas/${name}`, import.meta.url), 'utf8'));
const kubernetes = schemaFile('kubernetes.json') as { kinds: Record<string, string>; definitions: Schema };
const customResources = {
  ...(schemaFile('custom-resources.json') as Record<string, Schema>),
  ...(schemaFile('data-stores.json') as Record<string, Schema>),
};

const INT_OR_STRING = { anyOf: [{ type: 'integer' }, { type: 'string' }] };

/**
 * The OpenAPI dialect turned into plain JSON Schema: int-or-string and quantities as either type
 * (YAML writes `cpu: 1` as a number), and objects closed unless they say they preserve unknown
 * fields.
 */
function strict(schema: unknown, name?: string): unknown {
  if (Array.isArray(schema)) return schema.map((item) => strict(item));
  if (schema === null || typeof schema !== 'object') return schema;
  const source = schema as Schema;
  if (
    name === 'io.k8s.apimachinery.pkg.util.intstr.IntOrString' ||
    name === 'io.k8s.apimachinery.pkg.api.resource.Quantity' ||
    source['x-kubernetes-int-or-string'] === true
  ) {
    return INT_OR_STRING;
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(source)) {
    if (key.startsWith('x-kubernetes-') || key === 'format') continue;
    if (key === 'properties' || key === 'definitions' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, strict(v, key === 'definitions' ? k : undefined)]));
    } else out[key] = strict(value);
  }
  if (out.properties && out.additionalProperties === undefined && source['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

/** Go's regular expressions (RE2) mark case-insensitivity inline; JavaScript takes it as a flag. */
function goRegExp(pattern: string, flags: string): RegExp {
  return pattern.includes('(?i)')
    ? new RegExp(pattern.replaceAll('(?i)', ''), `${flags}i`)
    : new RegExp(pattern, flags);
}
goRegExp.code = 'goRegExp';

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { regExp: goRegExp } });
ajv.addSchema(strict({ definitions: kubernetes.definitions }) as Schema, 'kubernetes');
const objectMeta = ajv.compile({ $ref: 'kubernetes#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' });
const validators = new Map<string, ValidateFunction>();

function validatorFor(apiVersion: string, kind: string): ValidateFunction | undefined {
  const key = `${apiVersion}/${kind}`;
  if (!validators.has(key)) {
    const builtIn = kubernetes.kinds[key];
    const custom = customResources[key];
    if (builtIn) validators.set(key, ajv.compile({ $ref: `kubernetes#/definitions/${builtIn}` }));
    else if (custom) validators.set(key, ajv.compile(strict(custom) as Schema));
  }
  return validators.get(key);
}

const describe = (errors: ErrorObject[] | null | undefined, under = '') =>
  (errors ?? []).map((e) => `${under}${e.instancePath || (under ? '' : '/')} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);

/** The schema errors of one manifest; a kind with no vendored schema is an error too. */
export function schemaErrors(manifest: Manifest): string[] {
  const validate = validatorFor(manifest.apiVersion, manifest.kind);
  if (!validate) return [`no schema for ${manifest.apiVersion} ${manifest.kind} in test/k8s/schemas/`];
  const errors = validate(manifest) ? [] : describe(validate.errors);
  // A custom resource's schema says only `metadata: object`; the API server checks it as ObjectMeta.
  if (!objectMeta(manifest.metadata)) errors.push(...describe(objectMeta.errors, '/metadata'));
  return errors;
}
