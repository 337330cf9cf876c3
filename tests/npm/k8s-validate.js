// Validates Kubernetes objects (multi-document YAML on stdin, as `kubectl kustomize` prints it)
// against the Kubernetes OpenAPI schema as the npm package kubernetes-models compiles it (Kubernetes
// 1.27), and KEDA's objects against its CRDs' schemas (@kubernetes-models/keda). On top of the
// schema (types, formats, enums, required fields), unknown fields are errors, as with
// `kubectl apply --validate=strict`: the Kubernetes schema does not forbid extra properties, so
// each object is validated through a proxy that records which properties the schema's validator
// looks up; a property it never looks up is one the schema does not declare. (Maps such as labels
// are enumerated by the validator, which marks all their keys as known.)
// Prints one JSON line per object: {apiVersion, kind, name, errors, object}; exits 1 when any
// object has errors (or no schema), 2 on unreadable input.
"use strict";
const yaml = require("js-yaml");

// apiVersion group -> package of models; the core groups are in kubernetes-models.
const CRD_PACKAGES = { "keda.sh": "@kubernetes-models/keda" };

function modelClass(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const pkg = CRD_PACKAGES[group] || "kubernetes-models";
  let mod;
  try {
    mod = require(`${pkg}/${apiVersion}`);
  } catch (e) {
    return null;
  }
  const cls = mod[kind];
  return typeof cls === "function" && typeof cls.prototype.validate === "function" ? cls : null;
}

// A proxy of value (recursively) noting in nodes which properties of each object were read.
function track(value, path, nodes) {
  if (value === null || typeof value !== "object") return value;
  const node = { path, value, read: new Set(), enumerated: false };
  nodes.push(node);
  const kids = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") {
        node.read.add(key);
        if (Object.prototype.hasOwnProperty.call(target, key)) {
          if (!kids.has(key)) kids.set(key, track(target[key], `${path}/${key}`, nodes));
          return kids.get(key);
        }
      }
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") node.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      node.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function validate(obj) {
  const errors = [];
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return ["not an object"];
  const { apiVersion, kind } = obj;
  const cls = typeof apiVersion === "string" && typeof kind === "string" && modelClass(apiVersion, kind);
  if (!cls) return [`no schema for apiVersion ${apiVersion} kind ${kind}`];
  const nodes = [];
  try {
    cls.prototype.validate.call(track(obj, "", nodes));
  } catch (e) {
    errors.push(`schema: ${e.message}`);
  }
  for (const n of nodes) {
    if (Array.isArray(n.value) || n.enumerated) continue;
    for (const k of Object.keys(n.value))
      if (!n.read.has(k)) errors.push(`unknown field ${n.path}/${k}`);
  }
  return errors;
}

function main() {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => (input += d));
  process.stdin.on("end", () => {
    let docs;
    try {
      docs = yaml.loadAll(input).filter((d) => d !== null && d !== undefined);
    } catch (e) {
      process.stderr.write(`unreadable YAML: ${e.message}\n`);
      process.exit(2);
    }
    let bad = 0;
    for (const obj of docs) {
      const errors = validate(obj);
      if (errors.length) bad++;
      const name = obj && obj.metadata ? obj.metadata.name : undefined;
      process.stdout.write(JSON.stringify({ apiVersion: obj.apiVersion, kind: obj.kind, name, errors, object: obj }) + "\n");
    }
    process.exit(bad ? 1 : 0);
  });
}

main();
