// The import-graph check (`npm run lint:deps`, also part of `npm run lint`): imports point down the layer
// table only (DESIGN.md "Layers", docs/architecture.md), no cycles between folders, and the package root
// exports no server-side code. The table is written once, below; the rules are generated from it.

/**
 * The layers, top to bottom. `may` lists the folders a layer may import; `typesOnly` those it may import
 * with `import type` only. Everything else under src/ is forbidden to it, and so is the package root.
 */
const layers = [
  {
    name: 'cli',
    may: ['server', 'gateway', 'stores/usage', 'stores/ledgers', 'pump', 'router', 'providers', 'budget',
      'usage', 'pricing', 'tokens', 'core'],
  },
  {
    name: 'server',
    may: ['gateway', 'alerts', 'stores/usage', 'stores/ledgers', 'pump', 'router', 'providers', 'budget', 'usage',
      'pricing', 'tokens', 'core'],
  },
  { name: 'gateway', may: ['router', 'pump', 'budget', 'usage', 'pricing', 'tokens', 'telemetry', 'core'], typesOnly: ['providers'] },
  { name: 'alerts', may: ['core'], typesOnly: ['budget'] },
  // The AI SDK middleware and the LangChain handler: each its own subpath export (`tokenwarden/ai-sdk`,
  // `tokenwarden/langchain`), so a user without `ai` or `@langchain/core` never loads them.
  { name: 'integrations', may: ['budget', 'usage', 'pricing', 'tokens', 'telemetry', 'core'] },
  { name: 'stores/usage', may: ['usage', 'core'], typesOnly: ['budget'] },
  { name: 'stores/ledgers', may: ['budget', 'core'], typesOnly: ['usage'] },
  { name: 'pump', may: ['budget', 'usage', 'telemetry', 'core'], typesOnly: ['router'] },
  { name: 'router', may: ['providers', 'budget', 'usage', 'pricing', 'tokens', 'telemetry', 'core'] },
  { name: 'providers', may: ['tokens', 'pricing', 'core'] },
  { name: 'budget', may: ['pricing', 'core'], typesOnly: ['usage'] },
  { name: 'usage', may: ['pricing', 'core'] },
  { name: 'pricing', may: ['core'] },
  { name: 'tokens', may: ['core'] },
  // OpenTelemetry spans and metrics (through @opentelemetry/api only): the router, the pump, the gateway and
  // the integrations report to it.
  { name: 'telemetry', may: ['core'] },
  { name: 'core', may: [] },
];

/** What the package root (`src/index.ts`, the `tokenwarden` import) must not pull in. */
const notInPackageRoot = ['stores', 'server', 'gateway', 'cli', 'integrations'];
/**
 * The part of server/ the package root does export: the library's words-to-router factory
 * (`parseRouterConfig`, `configureRouter`, `createBackend`). It lives in server/, the one place words become
 * objects, and must itself stay clear of stores, the gateway and the CLI (rule `server-library-part`).
 */
const serverLibraryPart = '^src/server/(router-config|router-schema|schema-parts|config-values|config-problems|backend-factory)\\.ts$';

const folder = (name) => `^src/${name}/`;
const packageRoot = '^src/index\\.ts$';
const others = (layer, keep) => layers.map((l) => l.name).filter((name) => name !== layer.name && !keep.includes(name));

const layerRules = layers.flatMap((layer) => {
  const typesOnly = layer.typesOnly ?? [];
  const rules = [
    {
      name: `layer-${layer.name.replace('/', '-')}`,
      comment: `src/${layer.name}/ may import only ${[...layer.may, ...typesOnly.map((n) => `${n} (types)`)].join(', ') || 'nothing in src/'}`,
      severity: 'error',
      from: { path: folder(layer.name) },
      to: { path: [...others(layer, [...layer.may, ...typesOnly]).map(folder), packageRoot] },
    },
  ];
  if (typesOnly.length > 0) {
    rules.push({
      name: `layer-${layer.name.replace('/', '-')}-types-only`,
      comment: `src/${layer.name}/ may import ${typesOnly.join(', ')} with \`import type\` only`,
      severity: 'error',
      from: { path: folder(layer.name) },
      to: { path: typesOnly.map(folder), dependencyTypesNot: ['type-only'] },
    });
  }
  return rules;
});

const known = [...layers.map((l) => folder(l.name)), packageRoot];

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'package-root',
      comment: `src/index.ts (the package root) must not import ${notInPackageRoot.map((n) => `src/${n}/`).join(', ')}`,
      severity: 'error',
      from: { path: packageRoot },
      to: { path: notInPackageRoot.map(folder), pathNot: serverLibraryPart },
    },
    {
      name: 'server-library-part',
      comment: 'the router factory the package root exports from server/ loads no store, gateway or CLI code',
      severity: 'error',
      from: { path: serverLibraryPart },
      to: { path: ['stores', 'gateway', 'cli'].map(folder) },
    },
    {
      name: 'layer-unknown',
      comment: 'every module under src/ belongs to a layer of the table in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: known },
      to: {},
    },
    {
      name: 'layer-unknown-target',
      comment: 'every module under src/ belongs to a layer of the table in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: known },
    },
    {
      name: 'no-circular-folders',
      comment: 'no import cycle between folders',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle through modules of more than one folder',
      severity: 'error',
      from: { path: '^(src/.+)/[^/]+$' },
      to: { circular: true, via: { pathNot: '^$1/[^/]+$' } },
    },
    {
      name: 'no-circular-in-folder',
      comment: 'no import cycle inside one folder either: a cycle means two files share one job or a type sits in the wrong file',
      severity: 'error',
      from: { path: '^(src/.+)/[^/]+$' },
      to: { circular: true, viaOnly: { path: '^$1/[^/]+$' } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` counts: a type-only import is still an arrow in the layer table (marked type-only).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    cache: false,
  },
};
