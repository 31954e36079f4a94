// The new-run form, built from what the API says about a base (a preset, a gallery run, a
// dropped recipe): its main settings, then one section per component and settings group, each
// option a field of its type. Only fields changed from the base are sent, as overrides; the
// server validates with pixengine's own validator and its errors come back keyed, shown next
// to their fields.

import { ApiError, get, post, postFile } from "./api.js";
import { $, clear, debounce, h, toast } from "./dom.js";

const SIMPLE = new Set(["int", "float", "str", "bool"]);

function parseType(type) {
  const parts = String(type).split("|").map((p) => p.trim());
  const optional = parts.includes("None");
  const base = parts.filter((p) => p !== "None").join(" | ") || "Any";
  return { base, optional };
}

// What a YAML flow value looks like for a value (JSON is valid YAML flow).
const flow = (value) => (value === null || value === undefined ? "null" : JSON.stringify(value));

export function imageUrl(value, base) {
  if (typeof value !== "string" || !value) return null;
  if (value.startsWith("pkg:")) return `/api/assets/${value.slice(4)}`;
  const upload = value.match(/^upload:([0-9a-f]{64})$/);
  if (upload) return `/api/uploads/${upload[1]}`;
  const input = value.match(/\/([^/]+)\/inputs\/([A-Za-z0-9._-]+\.png)$/);
  if (input && base?.kind === "run") return `/api/runs/${encodeURIComponent(base.ref.slice(4))}/files/inputs/${input[2]}`;
  return null;
}

class Field {
  constructor(spec, form) {
    this.spec = spec;
    this.key = spec.key;
    this.form = form;
    const { base, optional } = parseType(spec.type);
    this.base = base;
    this.optional = optional;
    this.initial = spec.value;
    this.error = h("div", { class: "field-error", dataset: { errorFor: spec.key } });
    this.input = this.build();
    const label = h("label", { for: this.inputId, title: spec.key }, spec.name,
      spec.required ? " *" : "", h("span", { class: "hint", text: ` ${spec.type}` }));
    this.el = h("div", { class: `field ${this.wide ? "wide" : ""} ${spec.name}`, dataset: { key: spec.key } },
      label, this.input, spec.help ? h("div", { class: "field-help", text: this.helpText() }) : null, this.error);
  }

  get inputId() { return `f-${this.key.replace(/[^A-Za-z0-9_-]/g, "_")}`; }

  helpText() {
    const s = this.spec;
    const bounds = [s.min !== null && s.min !== undefined ? `≥ ${s.min}` : "", s.max !== null && s.max !== undefined ? `≤ ${s.max}` : ""].filter(Boolean).join(", ");
    return bounds ? `${s.help} (${bounds})` : s.help;
  }

  build() {
    const s = this.spec;
    const attrs = { id: this.inputId, "data-key": s.key, oninput: () => this.form.changed(this), onchange: () => this.form.changed(this) };
    if (s.file && this.base === "str" && !s.file_prefix) {
      this.kind = "image";
      this.wide = true;
      return this.buildImage(attrs);
    }
    if (s.choices) {
      this.kind = "choice";
      const select = h("select", attrs,
        this.optional ? h("option", { value: "null", text: "(none)" }) : null,
        s.choices.map((c) => h("option", { value: JSON.stringify(c), text: String(c) })));
      select.value = JSON.stringify(s.value ?? null);
      return select;
    }
    if (this.base === "bool") {
      this.kind = "bool";
      const box = h("input", { ...attrs, type: "checkbox" });
      box.checked = Boolean(s.value);
      return box;
    }
    if (this.base === "int" || this.base === "float") {
      this.kind = "number";
      const input = h("input", { ...attrs, type: "number", step: this.base === "int" ? "1" : "any", min: s.min ?? undefined,
        max: s.max ?? undefined, placeholder: this.optional ? "(none)" : "" });
      input.value = s.value ?? "";
      return input;
    }
    if (this.base === "str") {
      this.kind = "text";
      const input = h("input", { ...attrs, type: "text", placeholder: this.optional ? "(none)" : "" });
      input.value = s.value ?? "";
      this.wide = String(s.value ?? "").length > 24 || Boolean(s.file);
      return input;
    }
    if (s.name === "seed") {
      this.kind = "seed";
      const input = h("input", { ...attrs, type: "text", placeholder: "random" });
      input.value = s.value ?? "";
      const dice = h("button", { type: "button", title: "a random seed", onclick: () => {
        input.value = String(Math.floor(Math.random() * 2 ** 31)); this.form.changed(this); } }, "Random");
      this.seedInput = input;
      return h("div", { class: "seed-row" }, input, dice);
    }
    this.kind = "yaml"; // lists, mappings, Any: YAML flow text, sent as a key=value line
    this.wide = true;
    const input = h("input", { ...attrs, type: "text", spellcheck: "false" });
    input.value = flow(s.value);
    return input;
  }

  buildImage(attrs) {
    const s = this.spec;
    this.value = s.value;
    this.preview = h("img", { alt: "" });
    this.name = h("div", { class: "image-name" });
    this.select = h("select", { ...attrs, "aria-label": `${s.key}: image` });
    this.fileInput = h("input", { type: "file", accept: "image/*", hidden: true, onchange: () => {
      if (this.fileInput.files[0]) this.upload(this.fileInput.files[0]);
    } });
    const uploadButton = h("button", { type: "button", onclick: () => this.fileInput.click() }, "Upload…");
    this.select.addEventListener("change", () => { this.value = this.select.value === "__none__" ? null : this.select.value; this.showImage(); });
    const box = h("div", { class: "image-field" }, this.preview,
      h("div", { class: "image-controls" }, this.select, h("div", { class: "actions" }, uploadButton, this.name)), this.fileInput);
    // An image dropped on the field goes straight into it (not to the page's recipe loader).
    box.addEventListener("dragover", (event) => { event.preventDefault(); event.stopPropagation(); box.classList.add("dragging"); });
    box.addEventListener("dragleave", () => box.classList.remove("dragging"));
    box.addEventListener("drop", (event) => {
      event.preventDefault(); event.stopPropagation(); box.classList.remove("dragging");
      const file = event.dataTransfer?.files?.[0];
      if (file) this.upload(file);
    });
    this.refreshOptions();
    this.showImage();
    return box;
  }

  refreshOptions() {
    const select = clear(this.select);
    const assets = this.form.assets || [];
    if (this.optional) select.append(h("option", { value: "__none__", text: "(none)" }));
    const known = new Set(assets.map((a) => a.ref));
    if (this.value && !known.has(this.value)) {
      const label = this.value.startsWith("upload:") ? "uploaded image" : `${this.value.split("/").pop()} (from the recipe)`;
      select.append(h("option", { value: this.value, text: label }));
    }
    select.append(h("optgroup", { label: "shipped assets" }, assets.map((a) => h("option", { value: a.ref, text: a.name }))));
    select.value = this.value ?? "__none__";
  }

  showImage() {
    const url = imageUrl(this.value, this.form.baseInfo);
    this.preview.hidden = !url;
    if (url) this.preview.src = url;
    this.name.textContent = this.value ? String(this.value).split("/").pop() : "";
    this.name.title = this.value || "";
  }

  async upload(file) {
    try {
      const stored = await postFile("/api/uploads", file);
      this.setImage(stored.ref);
      toast(`Uploaded ${file.name || "image"} (${stored.width}×${stored.height})`);
    } catch (error) {
      this.error.textContent = `${this.key}: ${error.message}`;
    }
  }

  setImage(ref) {
    this.value = ref;
    this.refreshOptions();
    this.showImage();
    this.form.changed(this);
  }

  // {value} for a typed override, {line} for a key=value line, or null when unchanged.
  read() {
    const s = this.spec;
    let value;
    switch (this.kind) {
      case "image": value = this.value ?? null; break;
      case "choice": value = JSON.parse(this.input.value); break;
      case "bool": value = this.input.checked; break;
      case "number": {
        const text = this.input.value.trim();
        if (text === "") value = this.optional ? null : "";
        else value = Number(text);
        if (Number.isNaN(value)) value = text;
        break;
      }
      case "text": value = this.input.value === "" && this.optional ? null : this.input.value; break;
      case "seed": {
        const text = this.seedInput.value.trim();
        value = text === "" ? null : /^-?\d+$/.test(text) ? Number(text) : text;
        break;
      }
      default: {
        const text = this.input.value.trim();
        if (text === flow(s.value)) return null;
        return { line: `${this.key}=${text}` };
      }
    }
    return JSON.stringify(value) === JSON.stringify(this.initial ?? null) ? null : { value };
  }

  set(value) {
    switch (this.kind) {
      case "image": this.setImage(value); return;
      case "choice": this.input.value = JSON.stringify(value); break;
      case "bool": this.input.checked = Boolean(value); break;
      case "seed": this.seedInput.value = value ?? ""; break;
      case "yaml": this.input.value = flow(value); break;
      default: this.input.value = value ?? "";
    }
    this.form.changed(this);
  }
}

export class RunForm {
  constructor({ onSubmitted }) {
    this.onSubmitted = onSubmitted;
    this.fields = new Map();
    this.baseInfo = null;
    this.assets = [];
    this.described = null;
    this.presetSelect = $("preset-select");
    this.prompt = $("prompt");
    this.lines = $("override-lines");
    this.count = $("count");
    this.promptEdited = false;
    this.validateSoon = debounce(() => this.validate(), 450);
    this.checkPromptSoon = debounce(() => this.checkPrompt(), 200);
    this.presetSelect.addEventListener("change", () => this.choosePreset(this.presetSelect.value));
    this.prompt.addEventListener("input", () => { this.promptEdited = true; this.checkPromptSoon(); this.validateSoon(); });
    this.lines.addEventListener("input", () => this.validateSoon());
    $("run-form").addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    $("run-form").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); this.submit(); }
    });
  }

  async init() {
    const [{ presets }, { assets }] = await Promise.all([get("/api/presets"), get("/api/assets")]);
    this.presets = presets;
    this.assets = assets;
    clear(this.presetSelect).append(...presets.map((p) => h("option", { value: p.name, text: p.name })));
    const start = localStorage.getItem("studio.preset");
    await this.choosePreset(presets.some((p) => p.name === start) ? start : (presets.find((p) => p.name === "repaint") || presets[0]).name);
  }

  async choosePreset(name) {
    try {
      const described = await get(`/api/presets/${encodeURIComponent(name)}`);
      localStorage.setItem("studio.preset", name);
      this.load(described, { keepPrompt: this.promptEdited });
    } catch (error) {
      toast(error.message, true);
    }
  }

  // Show a base's form: ``described`` is what /api/presets/NAME, /api/runs/ID/recipe or
  // /api/recipes answered.
  load(described, { keepPrompt = false } = {}) {
    const prompt = this.prompt.value;
    this.described = described;
    this.baseInfo = described.base;
    const select = this.presetSelect;
    select.querySelectorAll("option.recipe").forEach((o) => o.remove());
    if (described.base.kind === "preset") {
      select.value = described.base.ref;
    } else {
      select.prepend(h("option", { class: "recipe", value: described.base.ref, text: `${described.preset} · ${described.base.title}` }));
      select.value = described.base.ref;
    }
    const info = (this.presets || []).find((p) => p.name === described.preset);
    $("preset-description").textContent = described.description || "";
    const thumb = $("preset-thumb");
    thumb.hidden = !info?.thumbnail;
    if (info?.thumbnail) thumb.src = info.thumbnail;
    $("base-note").textContent = described.base.kind === "preset" ? ""
      : `Starting from ${described.base.title}: its recipe exactly, with only what you change overridden.`;
    this.build(described.form);
    this.prompt.value = keepPrompt && described.base.kind === "preset" ? prompt : (described.recipe.prompt ?? "");
    this.promptEdited = keepPrompt && described.base.kind === "preset" && prompt !== (described.recipe.prompt ?? "");
    this.lines.value = "";
    this.showErrors([]);
    this.checkPrompt();
    this.validateSoon();
    document.body.dataset.base = described.base.ref; // which form is showing (tests wait for it)
  }

  build(form) {
    this.fields.clear();
    const main = clear($("main-fields"));
    for (const spec of form.main) {
      if (spec.name === "prompt") continue;
      const field = new Field(spec, this);
      this.fields.set(spec.key, field);
      main.append(field.el);
    }
    const sections = clear($("sections"));
    for (const component of form.components) {
      const fields = component.fields.map((spec) => new Field(spec, this));
      fields.forEach((f) => this.fields.set(f.key, f));
      const hasImage = fields.some((f) => f.kind === "image" && f.value);
      sections.append(h("details", { class: "section", open: hasImage, dataset: { key: component.key } },
        h("summary", {}, component.key, h("span", { class: "hint", text: `${component.type} · ${component.kind} · plugin ${component.plugin}` })),
        component.doc ? h("p", { class: "section-doc", text: component.doc }) : null,
        h("div", { class: "field-error", dataset: { errorFor: component.key } }),
        h("div", { class: "fields" }, fields.map((f) => f.el))));
    }
    for (const section of form.sections) {
      if (!section.fields.length) continue;
      const fields = section.fields.map((spec) => new Field(spec, this));
      fields.forEach((f) => this.fields.set(f.key, f));
      sections.append(h("details", { class: "section", dataset: { key: section.key } },
        h("summary", {}, section.title),
        section.key ? h("div", { class: "field-error", dataset: { errorFor: section.key } }) : null,
        h("div", { class: "fields" }, fields.map((f) => f.el))));
    }
  }

  changed(field) {
    field.el.classList.toggle("changed", field.read() !== null);
    this.validateSoon();
  }

  request() {
    const base = this.baseInfo;
    const body = base.kind === "preset" ? { preset: base.ref } : { recipe: base.ref };
    body.prompt = this.prompt.value;
    body.overrides = {};
    body.override_lines = [];
    for (const field of this.fields.values()) {
      const read = field.read();
      if (!read) continue;
      if ("line" in read) body.override_lines.push(read.line);
      else body.overrides[field.key] = read.value;
    }
    for (const line of this.lines.value.split("\n").map((l) => l.trim()).filter(Boolean)) body.override_lines.push(line);
    return body;
  }

  imageFields() {
    return [...this.fields.values()].filter((f) => f.kind === "image").map((f) => ({ key: f.key, label: f.key }));
  }

  setImage(key, ref) {
    this.fields.get(key)?.setImage(ref);
  }

  async checkPrompt() {
    const chips = clear($("prompt-parsed"));
    const error = document.querySelector('[data-error-for="prompt"]');
    try {
      const { prompts } = await post("/api/prompts/check", { text: this.prompt.value });
      error.textContent = "";
      this.prompt.classList.remove("invalid");
      for (const p of prompts) {
        const extra = [p.weight !== 1 ? `×${p.weight}` : "", p.stop !== null ? `stop ${p.stop}` : "",
          p.start || p.end ? `@${p.start || ""}-${p.end || ""}` : ""].filter(Boolean).join(" ");
        chips.append(h("span", { class: `chip ${p.weight < 0 ? "negative" : ""}`, text: extra ? `${p.text} ${extra}` : p.text }));
      }
    } catch (failure) {
      if (failure instanceof ApiError && failure.errors.length) {
        error.textContent = `prompt: ${failure.errors[0].message}`;
        this.prompt.classList.add("invalid");
      }
    }
  }

  async validate() {
    if (!this.baseInfo) return;
    try {
      await post("/api/validate", this.request());
      this.showErrors([]);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) this.showErrors(error.errors, true);
    }
  }

  showErrors(errors, live = false) {
    document.querySelectorAll("#run-form [data-error-for]").forEach((el) => { if (el.dataset.errorFor !== "prompt" || !live) el.textContent = ""; });
    document.querySelectorAll("#run-form .invalid").forEach((el) => { if (el !== this.prompt || !live) el.classList.remove("invalid"); });
    const general = clear($("form-errors"));
    for (const { key, message } of errors) {
      const text = `${key}: ${message}`;
      const target = this.errorTarget(key);
      if (target) {
        if (!target.textContent.includes(text)) target.textContent = target.textContent ? `${target.textContent}\n${text}` : text;
        const input = this.fields.get(key)?.input ?? (key === "prompt" ? this.prompt : null);
        input?.classList?.add("invalid");
        const details = target.closest("details");
        if (details) details.open = true;
      } else {
        general.append(h("div", { text }));
      }
    }
  }

  errorTarget(key) {
    const parts = key.split(".");
    while (parts.length) {
      const found = document.querySelector(`#run-form [data-error-for="${CSS.escape(parts.join("."))}"]`);
      if (found) return found;
      parts.pop();
    }
    return null;
  }

  async submit() {
    const button = $("generate");
    button.disabled = true;
    try {
      const body = this.request();
      body.count = Number(this.count.value) || 1;
      const created = await post("/api/runs", body);
      this.showErrors([]);
      toast(created.ids.length > 1 ? `Queued ${created.ids.length} runs` : "Queued");
      this.onSubmitted?.(created);
    } catch (error) {
      if (error instanceof ApiError && error.errors.length) this.showErrors(error.errors);
      else toast(error.message, true);
    } finally {
      button.disabled = false;
    }
  }
}
