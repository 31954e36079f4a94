// The gallery (every run in the outputs folder, newest first, filtered by preset, status and
// text) and a run's own page: its images, recipe, log chart and what can be done with it.

import { get, post, runUrl, text } from "./api.js";
import { drawChart } from "./chart.js";
import { $, badge, clear, debounce, h, number, seconds, toast, when } from "./dom.js";
import { LiveView } from "./live.js";

const PAGE = 60;

export class Gallery {
  constructor() {
    this.offset = 0;
    this.presetsShown = "";
    const reload = debounce(() => this.load(), 250);
    $("filter-preset").addEventListener("change", reload);
    $("filter-status").addEventListener("change", reload);
    $("filter-text").addEventListener("input", reload);
    $("gallery-more").addEventListener("click", () => this.load(true));
  }

  async load(more = false) {
    this.offset = more ? this.offset + PAGE : 0;
    const query = new URLSearchParams({ limit: PAGE, offset: this.offset });
    const preset = $("filter-preset").value, q = $("filter-text").value.trim(), status = $("filter-status").value;
    if (preset) query.set("preset", preset);
    if (q) query.set("q", q);
    if (status) query.set("status", status);
    const answer = await get(`/api/runs?${query}`);
    this.fillPresets(answer.presets);
    const grid = $("gallery-grid");
    if (!more) clear(grid);
    grid.append(...answer.runs.map(card));
    $("gallery-count").textContent = `${answer.total} run${answer.total === 1 ? "" : "s"}`;
    $("gallery-more").hidden = this.offset + PAGE >= answer.total;
  }

  fillPresets(presets) {
    const key = presets.join(",");
    if (key === this.presetsShown) return;
    this.presetsShown = key;
    const select = $("filter-preset");
    const chosen = select.value;
    clear(select).append(h("option", { value: "", text: "every preset" }), ...presets.map((p) => h("option", { value: p, text: p })));
    select.value = presets.includes(chosen) ? chosen : "";
  }
}

function card(run) {
  const hasImage = run.files.includes("final.png") || run.step > 0;
  const version = encodeURIComponent(`${run.status}-${run.step}-${run.started}`);
  return h("a", { class: "card", href: `#/runs/${encodeURIComponent(run.id)}`, dataset: { id: run.id } },
    h("div", { class: "thumb" }, hasImage
      ? h("img", { src: `${runUrl(run.id, "/thumbnail")}?v=${version}`, alt: run.prompt || run.preset, loading: "lazy" })
      : h("span", { text: run.status })),
    h("div", { class: "info" },
      h("div", { class: "row" }, h("strong", { text: run.preset || "run" }), h("span", { class: `badge ${run.status}`, text: run.status })),
      h("div", { class: "prompt", text: run.prompt || "(no prompt)", title: run.prompt }),
      h("div", { class: "row note" }, h("span", { text: when(run.started) }), h("span", { text: `${run.step}/${run.steps}` }))));
}

// -- a run's page ------------------------------------------------------------------------------

export class RunPage {
  constructor({ onRemix, onFollow, info }) {
    this.onRemix = onRemix;
    this.onFollow = onFollow;
    this.info = info;
    this.run = null;
    this.live = new LiveView({
      title: null, status: $("run-status"), image: null, progress: document.createElement("progress"),
      step: document.createElement("span"), rate: document.createElement("span"), eta: document.createElement("span"),
      losses: document.createElement("table"), chart: $("run-chart"), error: $("run-error"),
    }, { onEnd: () => this.show(this.run.id) });
    $("run-rerun").addEventListener("click", () => this.rerun());
    $("run-remix").addEventListener("click", () => this.remix());
    $("run-cancel").addEventListener("click", () => this.cancel());
    $("run-resume").addEventListener("click", () => this.resume());
    $("run-extend-go").addEventListener("click", () => this.resume(Number($("run-extend-steps").value)));
  }

  async show(id) {
    this.live.stop();
    const run = await get(runUrl(id));
    this.run = run;
    $("run-title").textContent = `${run.preset || "run"} · ${run.id}`;
    badge($("run-status"), run.status);
    this.meta(run);
    this.tabs(run);
    $("run-error").textContent = run.error || "";
    const final = run.files.includes("final.png");
    const download = $("run-download");
    download.classList.toggle("disabled", !final);
    download.href = final ? `${runUrl(id, "/files/final.png")}?download=1` : "#";
    const share = $("run-share");
    share.classList.toggle("disabled", !run.shareable);
    share.href = run.shareable ? runUrl(id, "/bundle") : "#";
    share.title = "The recipe bundle (.zip) anyone can re-run: pixengine run FILE.zip";
    const active = ["queued", "running"].includes(run.status);
    $("run-cancel").hidden = !active;
    $("run-resume").hidden = !run.resumable || active;
    $("run-extend").hidden = !(run.status === "finished" && run.files.includes("log.jsonl"));
    $("run-extend-steps").value = run.steps * 2;
    $("run-recipe").textContent = run.files.includes("run.yaml") ? await text(runUrl(id, "/files/run.yaml")) : "(no run.yaml yet)";
    $("run-console-box").hidden = !run.files.includes("console.log");
    $("run-console").textContent = run.files.includes("console.log") ? (await text(runUrl(id, "/files/console.log"))).replace(/\r/g, "\n").slice(-20000) : "";
    if (active) {
      this.live.els.image = this.mainImage;
      this.live.follow(id);
    } else {
      const log = await get(runUrl(id, "/log"));
      drawChart($("run-chart"), log.records);
    }
  }

  meta(run) {
    const rows = [
      ["prompt", run.prompt || "(none)"], ["preset", run.preset], ["status", run.detail && run.detail !== run.status ? `${run.status} (${run.detail})` : run.status],
      ["steps", `${run.step} / ${run.steps}`], ["size", run.width ? `${run.width} × ${run.height}` : ""], ["seed", String(run.seed ?? "")],
      ["loss", number(run.total)], ["time", seconds(run.seconds)], ["per step", seconds(run.seconds_per_step)],
      ["started", run.started ? new Date(run.started).toLocaleString() : ""], ["made by", run.origin === "studio" ? "the studio" : "the command line"],
      ["folder", run.id.replace(/~/g, "/")],
    ];
    clear($("run-meta")).append(...rows.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  }

  tabs(run) {
    const files = run.files;
    const url = (name) => `${runUrl(run.id, `/files/${name}`)}?v=${encodeURIComponent(run.started + run.step)}`;
    const tabs = [];
    tabs.push(["Final", () => this.image(files.includes("final.png") ? url("final.png") : `${runUrl(run.id, "/image")}?v=${Date.now()}`)]);
    if (files.includes("animation.gif")) tabs.push(["Animation", () => this.image(url("animation.gif"))]);
    else if (run.step_images.length) tabs.push(["Animation", () => this.flipbook(run, url)]);
    if (files.includes("animation.mp4")) tabs.push(["Video", () => this.video(url("animation.mp4"))]);
    if (files.includes("final.svg")) tabs.push(["SVG", () => this.image(url("final.svg"))]);
    if (files.includes("contact_sheet.png")) tabs.push(["Contact sheet", () => this.image(url("contact_sheet.png"))]);
    if (files.includes("variations.png")) tabs.push(["Variations", () => this.image(url("variations.png"))]);
    const bar = clear($("run-tabs"));
    const buttons = tabs.map(([label, show], i) => h("button", { type: "button", role: "tab", "aria-selected": i === 0 ? "true" : "false",
      onclick: (event) => { buttons.forEach((b) => b.setAttribute("aria-selected", "false")); event.target.setAttribute("aria-selected", "true"); show(); } }, label));
    bar.append(...buttons);
    tabs[0][1]();
  }

  image(src) {
    this.mainImage = h("img", { src, alt: this.run.prompt || this.run.preset, id: "run-image" });
    clear($("run-view")).append(this.mainImage);
  }

  video(src) {
    clear($("run-view")).append(h("video", { src, controls: true, loop: true, autoplay: true, muted: true }));
  }

  // Runs without an animation file: their intermediate images, played as a flipbook.
  flipbook(run, url) {
    const frames = [...run.step_images, ...(run.files.includes("final.png") ? ["final.png"] : [])];
    const img = h("img", { src: url(frames[0]), alt: "" });
    const slider = h("input", { type: "range", min: 0, max: frames.length - 1, value: 0, "aria-label": "frame" });
    const label = h("span", { class: "note" });
    const show = (i) => { img.src = url(frames[i]); slider.value = i; label.textContent = frames[i]; };
    slider.addEventListener("input", () => { stop(); show(Number(slider.value)); });
    let timer = null, i = 0;
    const stop = () => { clearInterval(timer); timer = null; };
    const play = h("button", { type: "button", onclick: () => {
      if (timer) return stop();
      timer = setInterval(() => { i = (i + 1) % frames.length; show(i); if (!document.body.contains(img)) stop(); }, 400);
    } }, "Play / pause");
    clear($("run-view")).append(img, slider, h("div", { class: "actions" }, play, label));
    show(0);
  }

  async rerun() {
    try {
      const created = await post("/api/runs", { recipe: `run:${this.run.id}` });
      toast("Queued: the same recipe in a new folder");
      this.onFollow?.(created.id);
    } catch (error) { toast(error.message, true); }
  }

  async remix() {
    try {
      this.onRemix?.(await get(runUrl(this.run.id, "/recipe")));
    } catch (error) { toast(error.message, true); }
  }

  async cancel() {
    try {
      await post(runUrl(this.run.id, "/cancel"));
      toast("Stopping");
    } catch (error) { toast(error.message, true); }
  }

  async resume(steps) {
    try {
      await post(runUrl(this.run.id, "/resume"), steps ? { steps } : {});
      toast(steps ? `Going on to ${steps} steps` : "Going on from its checkpoint");
      this.onFollow?.(this.run.id);
    } catch (error) { toast(error.errors?.[0]?.message || error.message, true); }
  }
}
