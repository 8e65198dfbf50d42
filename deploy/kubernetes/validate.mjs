#!/usr/bin/env node
// Validates the Kubernetes manifests under deploy/kubernetes/ offline, strictly, against the
// Kubernetes API's OpenAPI definitions, then checks what issue 15 asks of them.
//
//   bash deploy/kubernetes/install.sh          # once: npm ci of the pinned packages (package-lock.json)
//   node deploy/kubernetes/validate.mjs        # every *.yaml under deploy/kubernetes/
//   node deploy/kubernetes/validate.mjs FILE.. # those files only
//   node deploy/kubernetes/validate.mjs --self-test   # also proves that a misspelled field, a wrong
//                                                     # type and a missing field are caught
//
// The schemas: @kubernetes/client-node (the Kubernetes project's JavaScript client) ships, for every
// definition of the Kubernetes OpenAPI spec it is generated from (its files say "OpenAPI spec
// version: release-1.36"), the list of fields with their JSON names, types and formats
// (dist/gen/models/*.js, attributeTypeMap) and which fields are required (the *.d.ts: fields
// without "?"). From those this script builds a JSON Schema per definition (every object closed:
// additionalProperties false, so an unknown or misspelled field is an error, as
// `kubectl apply --validate=strict` would say), and ajv checks each document against the schema of
// its apiVersion and kind. The two CRD kinds (ServiceMonitor, Kustomization) have no definition in
// the Kubernetes spec: their shape is checked against the small schemas below, written here from the
// Prometheus Operator's and kustomize's documentation, and only for the fields these files use.
//
// YAML is read as Kubernetes reads it (YAML 1.1: 0440 is octal, yes/no/on/off are booleans).
// Exit status: 0 all valid, 1 a document is invalid (each problem on one line: file, document,
// path, problem), 2 the packages are missing.

import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modelsDir = join(here, 'node_modules', '@kubernetes', 'client-node', 'dist', 'gen', 'models');

async function loadPackages() {
  try {
    const [{ default: Ajv }, YAML] = await Promise.all([import('ajv'), import('yaml')]);
    if (!existsSync(join(modelsDir, 'V1Deployment.js'))) throw new Error(`${modelsDir}/V1Deployment.js is missing`);
    return { Ajv, YAML };
  } catch (e) {
    console.error(`validate.mjs: the pinned packages are not installed (${e.message.split('\n')[0]}); ` +
                  'run: bash deploy/kubernetes/install.sh');
    process.exit(2);
  }
}
const { Ajv, YAML } = await loadPackages();

// ---- the Kubernetes definitions, as JSON Schema ------------------------------------------------

const specVersion = (readFileSync(join(modelsDir, 'V1Deployment.js'), 'utf8')
  .match(/OpenAPI spec version: (\S+)/) ?? [, 'unknown'])[1];

// apiVersion + kind -> the generated model's name. Only the kinds these manifests may use: another
// kind is reported, not guessed at.
const kinds = {
  'v1/ConfigMap': 'V1ConfigMap',
  'v1/Secret': 'V1Secret',
  'v1/Service': 'V1Service',
  'v1/PersistentVolumeClaim': 'V1PersistentVolumeClaim',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'apps/v1/Deployment': 'V1Deployment',
  'apps/v1/StatefulSet': 'V1StatefulSet',
  'policy/v1/PodDisruptionBudget': 'V1PodDisruptionBudget',
  'networking.k8s.io/v1/Ingress': 'V1Ingress',
  'networking.k8s.io/v1/NetworkPolicy': 'V1NetworkPolicy',
};

const definitions = {};  // model name -> JSON Schema
const int32 = { type: 'integer', minimum: -2147483648, maximum: 2147483647 };

async function define(model) {
  if (definitions[model]) return;
  const file = join(modelsDir, `${model}.js`);
  if (!existsSync(file)) throw new Error(`no Kubernetes definition ${model} in @kubernetes/client-node`);
  definitions[model] = {};  // a placeholder against cycles (JSONSchemaProps refers to itself)
  const { [model]: cls } = await import(pathToFileURL(file).href);
  // The .d.ts has the same fields, by their TypeScript names; those without "?" are required.
  const dts = readFileSync(join(modelsDir, `${model}.d.ts`), 'utf8');
  const optional = new Map([...dts.matchAll(/^ {4}'([^']+)'(\?)?:/gm)].map((m) => [m[1], m[2] === '?']));
  const properties = {};
  const required = [];
  for (const a of cls.attributeTypeMap) {
    properties[a.baseName] = await schemaOf(a.type, a.format);
    if (optional.get(a.name) === false) required.push(a.baseName);
  }
  definitions[model] = { type: 'object', properties, additionalProperties: false, ...(required.length ? { required } : {}) };
}

async function schemaOf(type, format) {
  let m;
  switch (type) {
    case 'string': return format === 'byte' ? { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' } : { type: 'string' };
    case 'number':
      if (format === 'int32') return int32;
      if (format === 'int64') return { type: 'integer' };
      return { type: 'number' };
    case 'boolean': return { type: 'boolean' };
    case 'Date': return { type: 'string' };
    case 'IntOrString': return { type: ['integer', 'string'] };
    case 'any': case 'object': return {};
  }
  if ((m = type.match(/^Array<(.+)>$/))) return { type: 'array', items: await schemaOf(m[1], '') };
  if ((m = type.match(/^\{ \[key: string\]: (.+); \}$/))) return { type: 'object', additionalProperties: await schemaOf(m[1], '') };
  if (/^[A-Z][A-Za-z0-9]*$/.test(type)) {
    await define(type);
    return { $ref: `#/definitions/${type}` };
  }
  throw new Error(`validate.mjs cannot read the type "${type}" of @kubernetes/client-node`);
}

// ---- the CRD shapes (not in the Kubernetes spec) -------------------------------------------------

const metadata = { $ref: '#/definitions/V1ObjectMeta' };
const labelSelector = { $ref: '#/definitions/V1LabelSelector' };
const crdShapes = {
  // monitoring.coreos.com/v1 ServiceMonitor: the fields of its spec these files use, and a few more.
  'monitoring.coreos.com/v1/ServiceMonitor': {
    type: 'object', additionalProperties: false, required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata,
      spec: {
        type: 'object', additionalProperties: false, required: ['selector', 'endpoints'],
        properties: {
          selector: labelSelector,
          namespaceSelector: {
            type: 'object', additionalProperties: false,
            properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } },
          },
          jobLabel: { type: 'string' },
          endpoints: {
            type: 'array', minItems: 1,
            items: {
              type: 'object', additionalProperties: false,
              properties: {
                port: { type: 'string' }, targetPort: { type: ['integer', 'string'] }, path: { type: 'string' },
                scheme: { enum: ['http', 'https'] }, interval: { type: 'string', pattern: '^([0-9]+(ms|s|m|h))+$' },
                scrapeTimeout: { type: 'string', pattern: '^([0-9]+(ms|s|m|h))+$' }, honorLabels: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
  },
  // kustomize.config.k8s.io/v1beta1 Kustomization: a list of files (checked to exist below).
  'kustomize.config.k8s.io/v1beta1/Kustomization': {
    type: 'object', additionalProperties: false, required: ['apiVersion', 'kind', 'resources'],
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' }, namespace: { type: 'string' },
      resources: { type: 'array', minItems: 1, items: { type: 'string' } },
      labels: { type: 'array' }, images: { type: 'array' },
    },
  },
};

// ---- validation -----------------------------------------------------------------------------------

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
const validators = new Map();

async function validatorFor(key) {
  if (validators.has(key)) return validators.get(key);
  let schema;
  if (kinds[key]) {
    await define(kinds[key]);
    schema = { $ref: `#/definitions/${kinds[key]}` };
  } else if (crdShapes[key]) {
    await define('V1ObjectMeta');
    await define('V1LabelSelector');
    schema = crdShapes[key];
  } else {
    validators.set(key, null);
    return null;
  }
  // Each compiled schema carries the definitions it can reach: all of them, built so far.
  const v = ajv.compile({ ...schema, definitions: { ...definitions } });
  validators.set(key, v);
  return v;
}

function describe(err) {
  const where = err.instancePath || '/';
  switch (err.keyword) {
    case 'additionalProperties': {
      const field = err.params.additionalProperty;
      return `${where === '/' ? '' : where}/${field}: unknown field "${field}"`;
    }
    case 'required': return `${where}: missing required field "${err.params.missingProperty}"`;
    case 'type': return `${where}: must be ${err.params.type}, not ${err.data === null ? 'null' : Array.isArray(err.data) ? 'an array' : typeof err.data} (${JSON.stringify(err.data)})`.slice(0, 300);
    default: return `${where}: ${err.message}`;
  }
}

// Documents of one file: [{ index, doc, problems }]; YAML errors are problems of the file.
function parseFile(text) {
  const docs = YAML.parseAllDocuments(text, { version: '1.1', prettyErrors: false, uniqueKeys: true });
  return docs.map((d, i) => {
    const problems = [...d.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`)];
    return { index: i + 1, doc: problems.length ? null : d.toJS({ maxAliasCount: 0 }), problems };
  }).filter((d) => d.doc !== null || d.problems.length);
}

async function schemaProblems(doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return ['/: a document must be a mapping'];
  if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') return ['/: apiVersion and kind are required strings'];
  const key = `${doc.apiVersion}/${doc.kind}`;
  const validate = await validatorFor(key);
  if (!validate) return [`/: no schema for kind ${doc.kind} of apiVersion ${doc.apiVersion} (known: ${[...Object.keys(kinds), ...Object.keys(crdShapes)].join(', ')})`];
  if (validate(doc)) return [];
  // Ajv reports a failing $ref once per branch; keep each line once.
  return [...new Set(validate.errors.map(describe))];
}

// ---- what issue 15 asks of these manifests, beyond the schema ------------------------------------

const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

function policyProblems(file, docs, all) {
  const out = [];
  const dir = dirname(file);
  const sameDir = all.filter((d) => dirname(d.file) === dir);
  const named = (kind, name) => sameDir.some((d) => d.doc?.kind === kind && d.doc?.metadata?.name === name);
  for (const { index, doc } of docs) {
    if (!doc || typeof doc !== 'object') continue;
    const at = (path, problem) => out.push({ index, doc, line: `${path}: ${problem}` });
    if (doc.kind === 'Deployment') {
      const tpl = doc.spec?.template ?? {};
      const pod = tpl.spec ?? {};
      const podLabels = tpl.metadata?.labels ?? {};
      if (!matches(doc.spec?.selector?.matchLabels, podLabels)) at('/spec/selector/matchLabels', 'does not select the pod template\'s labels');
      if (basename(dir) === 'single-user') {
        if (doc.spec?.replicas !== 1) at('/spec/replicas', 'single-user mode runs exactly one replica (a second would compete for the IBKR session)');
        if (doc.spec?.strategy?.type !== 'Recreate') at('/spec/strategy/type', 'single-user mode must be Recreate (a rolling update runs two daemons at once)');
      } else if (!(doc.spec?.replicas > 1)) at('/spec/replicas', 'multi-user replicas: more than one');
      if (pod.enableServiceLinks !== false) at('/spec/template/spec/enableServiceLinks', 'must be false (Kubernetes would inject IBKR_SESSIOND_* variables the daemon reports as unknown)');
      if (!(pod.terminationGracePeriodSeconds > 5)) at('/spec/template/spec/terminationGracePeriodSeconds', 'must exceed the daemon\'s 5 s logout bound');
      const psc = pod.securityContext ?? {};
      if (psc.runAsNonRoot !== true) at('/spec/template/spec/securityContext/runAsNonRoot', 'must be true');
      if (!(psc.runAsUser > 0) || !(psc.runAsGroup > 0)) at('/spec/template/spec/securityContext', 'runAsUser and runAsGroup must be numeric and not 0');
      if (psc.seccompProfile?.type !== 'RuntimeDefault') at('/spec/template/spec/securityContext/seccompProfile/type', 'must be RuntimeDefault');
      for (const a of ['prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path'])
        if (!tpl.metadata?.annotations?.[a]) at('/spec/template/metadata/annotations', `missing ${a}`);
      const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
      [...(pod.initContainers ?? []).map((c, i) => [c, `initContainers/${i}`]), ...(pod.containers ?? []).map((c, i) => [c, `containers/${i}`])]
        .forEach(([c, where]) => {
          const p = `/spec/template/spec/${where}`;
          const sc = c.securityContext ?? {};
          if (sc.allowPrivilegeEscalation !== false) at(`${p}/securityContext/allowPrivilegeEscalation`, 'must be false');
          if (sc.readOnlyRootFilesystem !== true) at(`${p}/securityContext/readOnlyRootFilesystem`, 'must be true');
          if (!(sc.capabilities?.drop ?? []).includes('ALL')) at(`${p}/securityContext/capabilities/drop`, 'must include ALL');
          if (sc.privileged === true) at(`${p}/securityContext/privileged`, 'must not be true');
          for (const r of ['requests', 'limits'])
            for (const q of ['cpu', 'memory'])
              if (!c.resources?.[r]?.[q]) at(`${p}/resources/${r}`, `missing ${q}`);
          (c.volumeMounts ?? []).forEach((m, i) => {
            if (!volumes.has(m.name)) at(`${p}/volumeMounts/${i}/name`, `no volume "${m.name}" in the pod`);
          });
          for (const ref of [...(c.envFrom ?? []).map((e) => e.configMapRef && ['ConfigMap', e.configMapRef.name]),
                             ...(c.env ?? []).map((e) => e.valueFrom?.secretKeyRef && ['Secret', e.valueFrom.secretKeyRef.name])])
            if (ref && !named(...ref)) at(`${p}`, `refers to ${ref[0]} "${ref[1]}", which no file in ${relative(here, dir)}/ defines`);
          if (where.startsWith('containers/')) {
            const ports = new Set((c.ports ?? []).map((x) => x.name));
            for (const [probe, path] of [['startupProbe', '/livez'], ['livenessProbe', '/livez'], ['readinessProbe', '/readyz']]) {
              const get = c[probe]?.httpGet;
              if (!get) { at(`${p}/${probe}`, `missing (GET ${path})`); continue; }
              if (get.path !== path) at(`${p}/${probe}/httpGet/path`, `must be ${path}`);
              if (typeof get.port === 'string' && !ports.has(get.port)) at(`${p}/${probe}/httpGet/port`, `no container port named "${get.port}"`);
            }
          }
        });
      for (const [i, v] of (pod.volumes ?? []).entries()) {
        if (v.secret && !named('Secret', v.secret.secretName)) at(`/spec/template/spec/volumes/${i}/secret/secretName`, `no Secret "${v.secret.secretName}" in ${relative(here, dir)}/`);
        for (const [j, source] of (v.projected?.sources ?? []).entries())
          if (source.secret && !named('Secret', source.secret.name)) at(`/spec/template/spec/volumes/${i}/projected/sources/${j}/secret/name`, `no Secret "${source.secret.name}" in ${relative(here, dir)}/`);
        if (v.persistentVolumeClaim && !named('PersistentVolumeClaim', v.persistentVolumeClaim.claimName))
          at(`/spec/template/spec/volumes/${i}/persistentVolumeClaim/claimName`, `no PersistentVolumeClaim "${v.persistentVolumeClaim.claimName}" in ${relative(here, dir)}/`);
      }
    }
    // Services, budgets and monitors must select the pods of a Deployment of the same directory.
    const selector = doc.kind === 'Service' ? doc.spec?.selector
      : ['PodDisruptionBudget'].includes(doc.kind) ? doc.spec?.selector?.matchLabels : null;
    if (selector && !sameDir.some((d) => d.doc?.kind === 'Deployment' && matches(selector, d.doc.spec?.template?.metadata?.labels)))
      at('/spec/selector', 'selects no Deployment\'s pods in this directory');
    if (doc.kind === 'ServiceMonitor' && !sameDir.some((d) => d.doc?.kind === 'Service' && matches(doc.spec?.selector?.matchLabels, d.doc.metadata?.labels)))
      at('/spec/selector', 'selects no Service in this directory');
    if (doc.kind === 'Kustomization') {
      (doc.resources ?? []).forEach((r, i) => {
        if (!existsSync(join(dir, r))) at(`/resources/${i}`, `${r} does not exist`);
        if (/secret/i.test(r)) at(`/resources/${i}`, `${r}: the example Secret must not be applied with the kustomization (it would overwrite the real one)`);
      });
    }
  }
  return out;
}

// ---- files ----------------------------------------------------------------------------------------

function yamlFiles(path) {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => e.name !== 'node_modules' && !e.name.startsWith('.'))
    .flatMap((e) => (e.isDirectory() ? yamlFiles(join(path, e.name)) : /\.ya?ml$/.test(e.name) ? [join(path, e.name)] : []))
    .sort();
}

function label(doc) {
  return doc && typeof doc === 'object' ? `${doc.kind ?? '?'}/${doc.metadata?.name ?? '?'}` : '?';
}

// Validates parsed files [{file, docs}]; returns the problem lines and the number of documents.
async function check(files) {
  const all = files.flatMap(({ file, docs }) => docs.map((d) => ({ file, ...d })));
  const lines = [];
  let failed = 0;
  for (const { file, docs } of files) {
    const policy = policyProblems(file, docs, all);
    for (const d of docs) {
      const problems = [...d.problems, ...(d.doc ? await schemaProblems(d.doc) : []),
                        ...policy.filter((p) => p.index === d.index).map((p) => p.line)];
      if (problems.length) failed++;
      for (const p of problems) lines.push(`${shown(file)}: document ${d.index} (${label(d.doc)}): ${p}`);
    }
  }
  return { lines, documents: all.length, failed };
}

// A file under the working directory by its relative path, another by its absolute one.
function shown(file) {
  const r = relative(process.cwd(), file);
  return r && !r.startsWith('..') ? r : file;
}

const readFiles = (paths) => paths.map((file) => ({ file, docs: parseFile(readFileSync(file, 'utf8')) }));

// The proof that the check bites: the real single-user Deployment, broken three ways.
async function selfTest() {
  const file = join(here, 'single-user', 'deployment.yaml');
  const clone = () => readFiles([...yamlFiles(join(here, 'single-user'))]);
  const deployment = (files) => files.find((f) => f.file === file).docs[0].doc;
  const cases = [
    ['a misspelled field', (d) => {
      const sc = d.spec.template.spec.containers[0].securityContext;
      sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
      delete sc.readOnlyRootFilesystem;
    }, /containers\/0\/securityContext\/readOnlyRootFileSystem: unknown field "readOnlyRootFileSystem"/],
    ['a wrong type', (d) => { d.spec.replicas = '1'; }, /\/spec\/replicas: must be integer, not string/],
    ['a missing required field', (d) => { delete d.spec.template.spec.containers[0].name; }, /containers\/0: missing required field "name"/],
    ['a field at the wrong level', (d) => { d.spec.template.spec.containers[0].fsGroup = 65532; }, /containers\/0\/fsGroup: unknown field/],
  ];
  let passed = 0;
  let failed = 0;
  const clean = await check(clone());
  if (clean.lines.length) { console.error('self-test: the unmodified files must pass first'); failed++; } else passed++;
  for (const [what, mutate, expected] of cases) {
    const files = clone();
    mutate(deployment(files));
    const { lines } = await check(files);
    if (lines.some((l) => expected.test(l))) {
      passed++;
      console.log(`self-test: ${what} is caught: ${lines.find((l) => expected.test(l))}`);
    } else {
      failed++;
      console.error(`self-test: ${what} was NOT caught (expected ${expected}); got:\n  ${lines.join('\n  ') || '(nothing)'}`);
    }
  }
  return { passed, failed };
}

const args = process.argv.slice(2);
const selfTesting = args.includes('--self-test');
const targets = args.filter((a) => a !== '--self-test');
const paths = (targets.length ? targets : [here]).flatMap((p) => yamlFiles(resolve(p)));
if (!paths.length) {
  console.error('validate.mjs: no YAML files to check');
  process.exit(1);
}

const { lines, documents, failed } = await check(readFiles(paths));
for (const l of lines) console.error(l);
console.log(`validate.mjs: ${paths.length} files, ${documents} documents, against the Kubernetes OpenAPI ` +
            `definitions of @kubernetes/client-node (${specVersion}), strict`);
let passed = documents - failed;
let failures = failed;
if (selfTesting) {
  const st = await selfTest();
  passed += st.passed;
  failures += st.failed;
}
console.log(`kubernetes: ${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
