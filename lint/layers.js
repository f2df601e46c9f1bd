// The import rule that keeps Pigeon's layers: services meet only through Kafka, so a service
// never imports another service; libraries beside core/ serve every service and never import
// one; core/ imports nothing above it; only bin/ (the entry points) wires every service together.
import path from 'node:path';

/** What each top-level folder may import besides itself. Tests and benches may import anything. */
export const LAYERS = {
  core: [],
  providers: ['core'],
  routing: ['core', 'providers'],
  alerting: ['core'],
  api: ['core', 'providers', 'routing', 'alerting'],
  'supplier-bridge': ['core', 'providers', 'routing'],
  persister: ['core'],
  monitor: ['core', 'providers', 'routing', 'alerting'],
  bin: ['core', 'providers', 'routing', 'alerting', 'api', 'supplier-bridge', 'persister', 'monitor'],
};

const SERVICES = new Set(['api', 'supplier-bridge', 'persister', 'monitor']);

function topFolder(root, file) {
  const relative = path.relative(root, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  return relative.split(path.sep)[0];
}

function why(from, to) {
  if (from === 'core') return 'core/ imports nothing above it';
  if (SERVICES.has(from) && SERVICES.has(to))
    return 'services never import each other: they meet through Kafka';
  if (to === 'bin') return 'only the entry points in bin/ import bin/';
  if (SERVICES.has(to)) return 'a library never imports a service';
  return `${from}/ may import only ${['core', ...LAYERS[from]].filter((v, i, a) => a.indexOf(v) === i).join(', ')}`;
}

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keeps imports within the layers of docs/architecture.md' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: { crossing: "'{{from}}/' may not import '{{to}}/' ({{why}})." },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const filename = context.filename;
    const from = topFolder(root, filename);
    const isSpec = filename.endsWith('.test.ts');
    if (!from || !(from in LAYERS)) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = topFolder(root, path.resolve(path.dirname(filename), source));
      if (!to || to === from || LAYERS[from].includes(to)) return;
      // A unit spec beside the code may use the shared fakes and helpers of test/.
      if (to === 'test' && isSpec) return;
      context.report({ node, messageId: 'crossing', data: { from, to, why: why(from, to) } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { layers: layersRule } };
