// A PNG written by pixengine (or a bundle) dropped anywhere on the page, pasted, or picked
// with "Load recipe…" loads its recipe. The file itself is sent (browsers may strip metadata
// while dragging); the server reads the recipe. Nothing is applied silently: a dialog offers
// "Apply settings", "Use as image" or "Cancel", and a PNG without a recipe (a screenshot) is
// offered as an image input only.

import { get, postFile, runUrl } from "./api.js";
import { $, clear, h, toast } from "./dom.js";

export class RecipeDrop {
  constructor({ form, onApply }) {
    this.form = form;
    this.onApply = onApply;
    const overlay = $("drop-overlay");
    let depth = 0;
    const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].some((t) => t === "Files" || t === "text/uri-list");
    document.addEventListener("dragenter", (event) => { if (carriesFiles(event)) { depth += 1; overlay.hidden = false; } });
    document.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) overlay.hidden = true; });
    document.addEventListener("dragover", (event) => { if (carriesFiles(event)) event.preventDefault(); });
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      overlay.hidden = true;
      this.dropped(event.dataTransfer);
    });
    document.addEventListener("paste", (event) => {
      const file = [...(event.clipboardData?.files || [])][0];
      if (file) { event.preventDefault(); this.read(file); }
    });
    $("load-recipe").addEventListener("click", () => $("recipe-file").click());
    $("recipe-file").addEventListener("change", () => {
      const file = $("recipe-file").files[0];
      $("recipe-file").value = "";
      if (file) this.read(file);
    });
  }

  dropped(transfer) {
    const file = transfer?.files?.[0];
    if (file) return this.read(file);
    // An image dragged from this studio's own gallery: its run's recipe.
    const url = transfer?.getData("text/uri-list") || transfer?.getData("text/plain") || "";
    const match = url.match(/\/api\/runs\/([^/?#]+)\//) || url.match(/#\/runs\/([^/?#]+)/);
    if (match && new URL(url, location.href).origin === location.origin) return this.fromRun(decodeURIComponent(match[1]));
    toast("Drop a PNG written by pixengine, a bundle .zip, or an image", true);
  }

  async fromRun(id) {
    try {
      const recipe = await get(runUrl(id, "/recipe"));
      this.ask(recipe, null);
    } catch (error) { toast(error.message, true); }
  }

  async read(file) {
    try {
      const answer = await postFile("/api/recipes", file);
      this.ask(answer.recipe, answer.image);
    } catch (error) {
      toast(error.errors?.[0]?.message ? `${error.message}` : `Cannot load ${file.name || "the file"}: ${error.message}`, true);
    }
  }

  ask(recipe, image) {
    const dialog = $("drop-dialog");
    $("drop-title").textContent = recipe ? "This file carries a pixengine recipe" : "No pixengine recipe in this file";
    const picture = $("drop-image");
    picture.hidden = !image;
    if (image) picture.src = image.url;
    const summary = clear($("drop-summary"));
    if (recipe) {
      const r = recipe.recipe;
      summary.append(...[["preset", recipe.preset], ["prompt", r.prompt || "(none)"], ["size", `${r.width} × ${r.height}`],
        ["steps", r.steps], ["seed", r.seed]].map(([k, v]) => h("div", {}, h("span", { class: "note", text: `${k}: ` }), String(v))));
    } else {
      summary.append(h("p", { text: "It is an image: use it as one of the form's image inputs." }));
    }
    const fields = this.form.imageFields();
    const select = clear($("drop-field"));
    select.append(...fields.map((f) => h("option", { value: f.key, text: f.label })));
    $("drop-field-row").hidden = !(image && fields.length);
    $("drop-use-image").hidden = !(image && fields.length);
    $("drop-apply").hidden = !recipe;
    dialog.onclose = () => {
      if (dialog.returnValue === "apply" && recipe) {
        this.form.load(recipe);
        this.onApply?.();
        toast("Recipe loaded into the form");
      } else if (dialog.returnValue === "image" && image) {
        this.form.setImage(select.value, image.ref);
        this.onApply?.();
        toast(`Image set for ${select.value}`);
      }
    };
    dialog.returnValue = "";
    dialog.showModal();
  }
}
