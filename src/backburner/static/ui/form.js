// The "New job" panel: a kind picker and a form built from the kind's input JSON schema
// (GET /v1/kinds). The server is the one judge of the input (`novalidate`): its 422 answer
// names each wrong field, and the message is shown beside that field.

import {h} from "./dom.js";
import {kindTitle} from "./words.js";

const SHORT_TEXT = 200; // longer (or unbounded) strings get a textarea

/** A JSON schema with `$ref`, single `allOf` and nullable `anyOf` resolved (`nullable` set). */
function resolved(schema, root, depth = 0) {
  let s = schema ?? {};
  if (depth > 8) return s;
  if (s.$ref) {
    const target = s.$ref.replace(/^#\//, "").split("/").reduce((node, part) => node?.[part], root);
    const {$ref, ...rest} = s;
    return resolved({...target, ...rest}, root, depth + 1);
  }
  if (s.allOf?.length === 1) {
    const {allOf, ...rest} = s;
    return {...resolved(allOf[0], root, depth + 1), ...rest};
  }
  const options = s.anyOf ?? s.oneOf;
  if (options) {
    const real = options.filter((option) => option.type !== "null");
    const nullable = real.length < options.length;
    const {anyOf, oneOf, ...rest} = s;
    if (real.length === 1) return {...resolved(real[0], root, depth + 1), ...rest, nullable};
    if (real.every((option) => "const" in option)) return {...rest, enum: real.map((o) => o.const), nullable};
  }
  return "const" in s && !s.enum ? {...s, enum: [s.const]} : s;
}

const labelOf = (key, raw) => raw.title ?? String(key).replace(/[_-]+/g, " ").replace(/^./, (c) => c.toUpperCase());
const idOf = (path) => `field-${path.join("-").replace(/[^\w-]/g, "_") || "input"}`;
const isEmpty = (text) => text.trim() === "";

// One control for a leaf schema: [element, read]. `read()` is the value to send (undefined:
// leave it out, so the model's default applies) or throws a message for the person.
function control(id, schema, required) {
  const common = {id, name: id};
  if (schema.enum) {
    const blank = !required || schema.nullable ? [h("option", {value: ""}, "—")] : [];
    const select = h("select", common, blank, schema.enum.map((value, i) =>
      h("option", {value: i, selected: value === schema.default}, String(value))));
    return [select, () => (select.value === "" ? undefined : schema.enum[Number(select.value)])];
  }
  if (schema.type === "boolean") {
    const box = h("input", {...common, type: "checkbox", checked: schema.default === true});
    return [box, () => box.checked];
  }
  if (schema.type === "integer" || schema.type === "number") {
    const input = h("input", {...common, type: "number", inputmode: schema.type === "integer" ? "numeric" : "decimal",
      min: schema.minimum, max: schema.maximum, step: schema.type === "integer" ? 1 : "any", value: schema.default});
    return [input, () => {
      if (isEmpty(input.value)) return undefined;
      const number = Number(input.value);
      if (Number.isNaN(number)) throw new Error("Enter a number.");
      return number;
    }];
  }
  if (schema.type === "string" && schema.maxLength && schema.maxLength <= SHORT_TEXT) {
    const type = {email: "email", uri: "url", date: "date"}[schema.format] ?? "text";
    const input = h("input", {...common, type, maxlength: schema.maxLength, value: schema.default});
    return [input, () => (isEmpty(input.value) && !required ? undefined : input.value)];
  }
  if (schema.type === "string") {
    const area = h("textarea", {...common, rows: 4}, schema.default ?? "");
    return [area, () => (isEmpty(area.value) && !required ? undefined : area.value)];
  }
  const items = schema.type === "array" ? resolved(schema.items, {}) : null;
  if (items && ["string", "number", "integer"].includes(items.type)) {
    const area = h("textarea", {...common, rows: 3, placeholder: "One per line"}, (schema.default ?? []).join("\n"));
    return [area, () => {
      const lines = area.value.split("\n").map((line) => line.trim()).filter(Boolean);
      return lines.length || required ? lines.map((line) => (items.type === "string" ? line : Number(line))) : undefined;
    }];
  }
  const area = h("textarea", {...common, rows: 4, class: "mono", placeholder: "JSON"},
    schema.default === undefined ? "" : JSON.stringify(schema.default, null, 2));
  return [area, () => {
    if (isEmpty(area.value)) return undefined;
    try {
      return JSON.parse(area.value);
    } catch {
      throw new Error("This is not valid JSON.");
    }
  }];
}

// The fields of an object schema, appended to `parent`; each leaf is pushed onto `fields`.
function build(parent, schema, root, path, fields) {
  const required = new Set(schema.required ?? []);
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    const inner = resolved(raw, root);
    const at = [...path, key];
    if (inner.type === "object" && inner.properties) {
      const set = h("fieldset", {}, h("legend", {}, labelOf(key, raw)));
      parent.append(set);
      build(set, inner, root, at, fields);
      continue;
    }
    fields.push(leaf(parent, at, labelOf(key, raw), inner, required.has(key)));
  }
}

function leaf(parent, path, label, schema, required) {
  const id = idOf(path);
  const [element, read] = control(id, schema, required);
  const hint = schema.description ? h("p", {class: "hint", id: `${id}-hint`}, schema.description) : null;
  const error = h("p", {class: "field-error", id: `${id}-error`, hidden: true});
  element.setAttribute("aria-describedby", [hint && hint.id, error.id].filter(Boolean).join(" "));
  const check = element.type === "checkbox";
  parent.append(h("div", {class: `field${check ? " check" : ""}`},
    check ? [element, h("label", {for: id}, label)] : [h("label", {for: id}, label + (required || "default" in schema ? "" : " (optional)")), element],
    hint, error));
  return {path: path.join("."), element, error, read};
}

/** The panel in `container`; `submit(kind, input, {scope})` resolves when the job is stored. */
export class JobForm {
  constructor(container, kinds, {submit}) {
    Object.assign(this, {kinds, submit, fields: []});
    this.picker = h("select", {id: "job-kind", onchange: () => this.show(this.picker.value)},
      kinds.map((kind) => h("option", {value: kind.name}, kindTitle(kind.name))));
    this.about = h("p", {class: "hint", id: "job-kind-hint"});
    this.fieldset = h("div", {class: "job-form"});
    this.scope = h("input", {id: "job-scope", type: "text", maxlength: 200, "aria-describedby": "job-scope-hint"});
    this.problem = h("p", {class: "problem", role: "alert", hidden: true});
    this.cost = h("span", {class: "hint"});
    this.button = h("button", {type: "submit", class: "primary"}, "Start");
    this.form = h("form", {class: "job-form", novalidate: true, onsubmit: (event) => this.send(event)},
      h("div", {class: "field", hidden: kinds.length < 2}, h("label", {for: "job-kind"}, "What to make"), this.picker),
      this.about, this.fieldset,
      h("details", {}, h("summary", {}, "More options"),
        h("div", {class: "field"}, h("label", {for: "job-scope"}, "Group (optional)"), this.scope,
          h("p", {class: "hint", id: "job-scope-hint"}, "Jobs of the same group are shown together, e.g. novel:42."))),
      this.problem,
      h("div", {class: "actions"}, this.button, this.cost));
    if (!kinds.length) {
      container.replaceChildren(h("p", {class: "hint"}, "This server has no kinds of job yet."));
      return;
    }
    container.replaceChildren(this.form);
    this.show(kinds[0].name);
  }

  show(name) {
    const kind = this.kinds.find((k) => k.name === name);
    const schema = resolved(kind.input_schema ?? {}, kind.input_schema ?? {});
    this.fields = [];
    this.fieldset.replaceChildren();
    this.about.textContent = schema.description ?? "";
    if (schema.type === "object" && schema.properties) build(this.fieldset, schema, kind.input_schema, [], this.fields);
    else this.fields.push(leaf(this.fieldset, [], "Input", schema, true));
    const cost = kind.policy?.cost;
    this.cost.textContent = cost ? `Costs ${cost} credit${cost === 1 ? "" : "s"}` : "";
    this.clear();
  }

  async send(event) {
    event.preventDefault();
    this.clear();
    const input = this.read();
    if (input === null) return;
    this.button.disabled = true;
    this.button.textContent = "Starting…";
    try {
      const kind = this.picker.value;
      await this.submit(kind, input, {scope: this.scope.value.trim() || undefined});
      this.form.reset(); // every field back to its default, the kind kept
      this.picker.value = kind;
    } catch (error) {
      this.showProblem(error);
    } finally {
      this.button.disabled = false;
      this.button.textContent = "Start";
    }
  }

  // The input to send, or null (the wrong fields are marked) when some cannot be read.
  read() {
    let input = {};
    let ok = true;
    for (const field of this.fields) {
      try {
        const value = field.read();
        if (value === undefined) continue;
        if (!field.path) input = value;
        else setPath(input, field.path.split("."), value);
      } catch (error) {
        ok = false;
        this.mark(field, error.message);
      }
    }
    if (!ok) this.fields.find((f) => f.element.getAttribute("aria-invalid"))?.element.focus();
    return ok ? input : null;
  }

  /** Show a failed submit: each field's message beside it, the rest above the button. */
  showProblem(error) {
    const unplaced = [];
    for (const {field, message} of error?.errors ?? []) {
      const target = this.fields.find((f) => f.path === field) ?? this.fields.find((f) => field?.startsWith(`${f.path}.`));
      if (target) this.mark(target, message.replace(/^Value error, /, ""));
      else unplaced.push(field && field !== "input" && field !== "body" ? `${field}: ${message}` : message);
    }
    const invalid = this.fields.find((f) => f.element.getAttribute("aria-invalid"));
    if (unplaced.length || !invalid) {
      this.problem.textContent = unplaced.join(" ") || error?.detail || error?.message || "Something went wrong.";
      this.problem.hidden = false;
    }
    invalid?.element.focus();
  }

  mark(field, message) {
    field.error.textContent = message;
    field.error.hidden = false;
    field.element.setAttribute("aria-invalid", "true");
  }

  clear() {
    for (const field of this.fields) {
      field.error.hidden = true;
      field.error.textContent = "";
      field.element.removeAttribute("aria-invalid");
    }
    this.problem.hidden = true;
  }
}

function setPath(target, path, value) {
  const last = path.pop();
  const parent = path.reduce((node, key) => (node[key] ??= {}), target);
  parent[last] = value;
}
