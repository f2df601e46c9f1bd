/**
 * Renders a kustomization the way `kubectl kustomize` does, for the subset of kustomize that k8s/
 * uses: resources (files and directories), namespace, labels, images and patches (strategic
 * merge or JSON 6902, with a target). No kubectl is needed in CI; where kubectl is installed,
 * test/k8s.test.ts checks that both render the same objects. A field this subset does not know
 * fails the render, so k8s/ cannot outgrow it unnoticed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type Manifest = Record<string, any>;

interface Kustomization {
  resources?: string[];
  namespace?: string;
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }>;
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  patches?: Array<{ path?: string; patch?: string; target?: { kind?: string; name?: string } }>;
}

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'resources', 'namespace', 'labels', 'images', 'patches']);
/** Kinds that live outside any namespace; the namespace transformer leaves them alone. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);
/** Kinds whose pod template gets the labels of `includeTemplates`. */
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

function readYamlDocuments(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
      return document.toJS() as Manifest | null;
    })
    .filter((manifest): manifest is Manifest => manifest !== null);
}

/** The objects `kubectl kustomize <dir>` prints, in no particular order. */
export function renderKustomization(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const kustomization = parse(readFileSync(file, 'utf8')) as Kustomization;
  for (const field of Object.keys(kustomization)) {
    if (!KNOWN_FIELDS.has(field)) throw new Error(`${file}: kustomize field ${field} is not rendered here`);
  }

  let objects: Manifest[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource);
    objects.push(...(statSync(path).isDirectory() ? renderKustomization(path) : readYamlDocuments(path)));
  }
  for (const { path, patch, target } of kustomization.patches ?? []) {
    const text = patch ?? readFileSync(join(dir, path!), 'utf8');
    const body = parse(text) as Manifest | Manifest[];
    const selected = (object: Manifest) =>
      Array.isArray(body) || target
        ? (target?.kind === undefined || object.kind === target.kind) &&
          (target?.name === undefined || new RegExp(`^(?:${target.name})$`).test(object.metadata.name))
        : object.kind === body.kind && object.metadata.name === body.metadata?.name;
    const matched = objects.filter(selected);
    if (matched.length === 0) throw new Error(`${file}: a patch matches no object`);
    objects = objects.map((object) => {
      if (!selected(object)) return object;
      if (Array.isArray(body)) return applyJsonPatch(object, body);
      // A targeted strategic merge patch names any object; its own kind and name are not applied.
      const { metadata, ...rest } = body;
      const { name: _name, ...metadataRest } = (metadata ?? {}) as Manifest;
      const merged = Object.keys(metadataRest).length > 0 ? { ...rest, metadata: metadataRest } : rest;
      return strategicMerge(object, merged) as Manifest;
    });
  }
  for (const object of objects) {
    if (kustomization.namespace !== undefined && !CLUSTER_SCOPED.has(object.kind)) {
      object.metadata.namespace = kustomization.namespace;
    }
    for (const { pairs, includeSelectors, includeTemplates } of kustomization.labels ?? []) {
      if (includeSelectors) throw new Error(`${file}: labels with includeSelectors are not rendered here`);
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
      if (includeTemplates && WORKLOADS.has(object.kind)) {
        const template = object.spec.template;
        template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, ...pairs } };
      }
    }
    for (const image of kustomization.images ?? []) retagImages(object, image);
  }
  return objects;
}

function retagImages(object: Manifest, image: NonNullable<Kustomization['images']>[number]): void {
  const pod = object.spec?.template?.spec;
  for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
    const [, name, tag] = /^(.*?)(?::([^:/]+))?(?:@.*)?$/.exec(container.image as string) ?? [];
    if (name !== image.name) continue;
    const newName = image.newName ?? name;
    container.image = image.digest
      ? `${newName}@${image.digest}`
      : `${newName}${(image.newTag ?? tag) ? `:${image.newTag ?? tag}` : ''}`;
  }
}

/** Kubernetes' strategic merge for what k8s/ patches: maps merge, null deletes, named lists merge by name. */
export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object') return patch;
  if (Array.isArray(patch)) {
    if (!Array.isArray(target) || !patch.every((item) => typeof item?.name === 'string')) return patch;
    const merged = [...target];
    for (const item of patch) {
      const at = merged.findIndex((existing) => existing?.name === item.name);
      if (at < 0) merged.push(item);
      else merged[at] = strategicMerge(merged[at], item);
    }
    return merged;
  }
  const out: Manifest = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = strategicMerge(out[key], value);
  }
  return out;
}

/** RFC 6902 add, replace and remove, the operations k8s/ uses. */
export function applyJsonPatch(object: Manifest, operations: Manifest[]): Manifest {
  const copy = structuredClone(object);
  for (const { op, path, value } of operations) {
    const keys = (path as string)
      .split('/')
      .slice(1)
      .map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop()!;
    let parent: any = copy;
    for (const key of keys) {
      parent = parent?.[Array.isArray(parent) ? Number(key) : key];
      if (parent === undefined) throw new Error(`JSON patch path ${path} does not exist`);
    }
    const index = Array.isArray(parent) ? (last === '-' ? parent.length : Number(last)) : last;
    if (op === 'remove' || op === 'replace') {
      if (!(index in parent)) throw new Error(`JSON patch ${op} of ${path}: nothing there`);
    }
    if (op === 'remove') {
      if (Array.isArray(parent)) parent.splice(index as number, 1);
      else delete parent[index];
    } else if (op === 'replace') {
      parent[index] = value;
    } else if (op === 'add') {
      if (Array.isArray(parent)) parent.splice(index as number, 0, value);
      else parent[index] = value;
    } else {
      throw new Error(`JSON patch operation ${op} is not rendered here`);
    }
  }
  return copy;
}

