#!/usr/bin/env node
// Offline validation of Kubernetes manifests, no cluster needed.
//
//   node validate.mjs <dir-or-file>...        e.g. node eng/k8s-validate/validate.mjs deploy/k8s
//
// 1. Every YAML document of every *.yaml / *.yml file (recursively) is parsed.
// 2. Each Kubernetes object is checked against the OpenAPI schema of its apiVersion/kind with
//    kubernetes-models (types, required fields, enums, formats). An apiVersion/kind it does not
//    know is an error too, so a typo there cannot slip through.
//    Skipped: the dapr.io group (Component, Configuration, Resiliency, ...: CRDs that
//    kubernetes-models has no schema for; the .NET tests check them) and kustomize's own files.
// 3. Cross-object checks the schema cannot make: duplicate objects, workload selectors that do
//    not match their pod labels, Services selecting no pods, named ports that no container
//    declares, references to ConfigMaps/Secrets/PVCs/ServiceAccounts that no manifest defines,
//    and kustomization resources that do not exist.
//
// Prints every problem as `file[#doc] Kind/name: message` and exits 1 if there was any
// (2 for a usage error), 0 otherwise.

import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join, relative, dirname, resolve, basename } from "node:path";
import { parseAllDocuments } from "yaml";

const SKIPPED_GROUPS = new Set(["dapr.io", "kustomize.config.k8s.io"]);
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error("usage: node validate.mjs <dir-or-file>...");
  process.exit(2);
}

const problems = [];
const report = (where, message) => problems.push(`${where}: ${message}`);

function yamlFiles(path) {
  const st = statSync(path);
  if (st.isFile()) return [path];
  const out = [];
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(full));
    else if (/\.ya?ml$/i.test(entry.name)) out.push(full);
  }
  return out.sort();
}

function groupOf(apiVersion) {
  const i = apiVersion.indexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

const modelCache = new Map();
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    let ctor = null;
    // kubernetes-models lays its classes out as <group>/<version>/<Kind> ("v1/Service" for core).
    if (/^[a-z0-9.-]*\/?v[0-9a-z]+$/.test(apiVersion) && /^[A-Za-z0-9]+$/.test(kind)) {
      try {
        ctor = (await import(`kubernetes-models/${apiVersion}/${kind}`))[kind] ?? null;
      } catch {
        ctor = null;
      }
    }
    modelCache.set(key, ctor);
  }
  return modelCache.get(key);
}

const targets = [];
for (const arg of args) {
  if (!existsSync(arg)) {
    console.error(`not found: ${arg}`);
    process.exit(2);
  }
  targets.push(...yamlFiles(arg));
}
if (targets.length === 0) {
  console.error(`no YAML files under ${args.join(", ")}`);
  process.exit(2);
}

const objects = []; // { where, obj }
let skipped = 0;
let validated = 0;

for (const file of targets) {
  const shown = relative(process.cwd(), file) || file;
  let docs;
  try {
    docs = parseAllDocuments(readFileSync(file, "utf8"), { prettyErrors: true });
  } catch (e) {
    report(shown, `cannot read: ${e.message}`);
    continue;
  }
  if (!Array.isArray(docs)) docs = [docs];
  for (const [i, doc] of docs.entries()) {
    const at = docs.length > 1 ? `${shown}#${i + 1}` : shown;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) report(at, `YAML: ${err.message}`);
      continue;
    }
    const obj = doc.toJS({ maxAliasCount: 100 });
    if (obj === null || obj === undefined) continue; // empty document
    if (typeof obj !== "object" || Array.isArray(obj)) {
      report(at, "not a Kubernetes object (expected a mapping)");
      continue;
    }
    if (basename(file) === "kustomization.yaml" || basename(file) === "kustomization.yml") {
      checkKustomization(at, dirname(file), obj);
      skipped++;
      continue;
    }
    const { apiVersion, kind } = obj;
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      report(at, "apiVersion and kind must be strings");
      continue;
    }
    const name = obj.metadata?.name ?? "(no name)";
    const where = `${at} ${kind}/${name}`;
    if (SKIPPED_GROUPS.has(groupOf(apiVersion))) {
      skipped++;
      continue;
    }
    const Model = await modelFor(apiVersion, kind);
    if (!Model) {
      report(where, `unknown apiVersion/kind ${apiVersion} ${kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      const errors = Array.isArray(e.errors) && e.errors.length > 0 ? e.errors : null;
      if (errors) {
        for (const err of errors) report(where, `${err.instancePath || "/"} ${err.message}`);
      } else {
        report(where, e.message);
      }
    }
    validated++;
    objects.push({ where, obj });
  }
}

function checkKustomization(where, dir, k) {
  for (const field of ["resources", "components", "patchesStrategicMerge"]) {
    for (const ref of k[field] ?? []) {
      if (typeof ref !== "string" || /^[a-z]+:\/\//i.test(ref)) continue; // remote bases
      if (!existsSync(resolve(dir, ref))) report(where, `${field} entry not found: ${ref}`);
    }
  }
}

// ---- cross-object checks -------------------------------------------------------------------
const ns = (o) => o.metadata?.namespace ?? "";
const byKind = (kind) => objects.filter(({ obj }) => obj.kind === kind);
const names = (kind) => new Set(byKind(kind).map(({ obj }) => obj.metadata?.name));

const seen = new Map();
for (const { where, obj } of objects) {
  const key = `${obj.apiVersion}|${obj.kind}|${ns(obj)}|${obj.metadata?.name}`;
  if (seen.has(key)) report(where, `duplicate of ${seen.get(key)}`);
  else seen.set(key, where);
}

const podTemplates = objects
  .filter(({ obj }) => WORKLOAD_KINDS.has(obj.kind) && obj.spec?.template)
  .map(({ where, obj }) => ({ where, obj, pod: obj.spec.template }));

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);

const configMaps = names("ConfigMap");
const secrets = names("Secret");
const claims = names("PersistentVolumeClaim");
const accounts = names("ServiceAccount");

for (const { where, obj, pod } of podTemplates) {
  const labels = pod.metadata?.labels ?? {};
  if (obj.kind !== "Job" && !matches(obj.spec.selector?.matchLabels, labels)) {
    report(where, "spec.selector.matchLabels does not match spec.template.metadata.labels");
  }
  const spec = pod.spec ?? {};
  const sa = spec.serviceAccountName;
  if (sa && sa !== "default" && !accounts.has(sa)) report(where, `ServiceAccount ${sa} is not defined`);
  for (const v of spec.volumes ?? []) {
    if (v.configMap && !v.configMap.optional && !configMaps.has(v.configMap.name)) {
      report(where, `volume ${v.name}: ConfigMap ${v.configMap.name} is not defined`);
    }
    if (v.secret && !v.secret.optional && !secrets.has(v.secret.secretName)) {
      report(where, `volume ${v.name}: Secret ${v.secret.secretName} is not defined`);
    }
    if (v.persistentVolumeClaim && !claims.has(v.persistentVolumeClaim.claimName)) {
      report(where, `volume ${v.name}: PersistentVolumeClaim ${v.persistentVolumeClaim.claimName} is not defined`);
    }
  }
  const volumeNames = new Set((spec.volumes ?? []).map((v) => v.name));
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const portNames = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port ?? c[probe]?.grpc?.port;
      if (typeof port === "string" && !portNames.has(port)) {
        report(where, `container ${c.name}: ${probe} uses port name "${port}" that the container does not declare`);
      }
    }
    for (const m of c.volumeMounts ?? []) {
      if (!volumeNames.has(m.name)) report(where, `container ${c.name}: volumeMount ${m.name} has no volume`);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref && !ref.optional && !secrets.has(ref.name)) {
        report(where, `container ${c.name}: env ${e.name} refers to Secret ${ref.name} that no manifest defines`);
      }
      const cm = e.valueFrom?.configMapKeyRef;
      if (cm && !cm.optional && !configMaps.has(cm.name)) {
        report(where, `container ${c.name}: env ${e.name} refers to ConfigMap ${cm.name} that no manifest defines`);
      }
    }
  }
}

for (const { where, obj } of byKind("Service")) {
  const selector = obj.spec?.selector;
  if (!selector || obj.spec?.type === "ExternalName") continue;
  const selected = podTemplates.filter(({ pod }) => matches(selector, pod.metadata?.labels));
  if (selected.length === 0) {
    report(where, `selector ${JSON.stringify(selector)} matches no pod template`);
    continue;
  }
  for (const p of obj.spec?.ports ?? []) {
    if (typeof p.targetPort !== "string") continue;
    const declared = selected.some(({ pod }) =>
      (pod.spec?.containers ?? []).some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort)));
    if (!declared) report(where, `port ${p.name ?? p.port}: targetPort "${p.targetPort}" is not a container port name of the selected pods`);
  }
}

for (const { where, obj } of byKind("RoleBinding")) {
  for (const s of obj.subjects ?? []) {
    if (s.kind === "ServiceAccount" && !s.namespace && !accounts.has(s.name)) {
      report(where, `subject ServiceAccount ${s.name} is not defined`);
    }
  }
}

for (const p of problems) console.error(`ERROR ${p}`);
console.log(
  `${targets.length} files: ${validated} objects validated, ${skipped} skipped (dapr.io / kustomize), ${problems.length} problems`,
);
process.exit(problems.length > 0 ? 1 : 0);
