// A run followed live: its server-sent event stream drives the image, the step counter, the
// seconds per step and time left, the per-loss table and the loss chart.

import { runUrl, post } from "./api.js";
import { drawChart, COLORS } from "./chart.js";
import { badge, clear, h, number, seconds, toast } from "./dom.js";

// When each image reached the page, against when its step ended (benchmarks read this).
window.__studioImageTimes = window.__studioImageTimes || [];

export class LiveView {
  constructor(els, { onEnd, onResume } = {}) {
    this.els = els;
    this.onEnd = onEnd;
    this.onResume = onResume;
    this.source = null;
    this.id = null;
    this.records = [];
    this.state = null;
    this.drawPending = false;
    els.cancel?.addEventListener("click", () => this.cancel());
    els.resume?.addEventListener("click", () => this.resume());
  }

  follow(id, title) {
    this.stop();
    this.id = id;
    this.records = [];
    this.state = null;
    if (this.els.title) this.els.title.textContent = title || id;
    if (this.els.open) { this.els.open.href = `#/runs/${encodeURIComponent(id)}`; this.els.open.hidden = false; }
    if (this.els.error) this.els.error.textContent = "";
    // Nothing of the previous run stays on show while the new one's snapshot comes.
    badge(this.els.status, "");
    this.els.step.textContent = this.els.rate.textContent = this.els.eta.textContent = "";
    this.els.progress.value = 0;
    clear(this.els.losses);
    const source = new EventSource(runUrl(id, "/events"));
    this.source = source;
    const on = (name, fn) => source.addEventListener(name, (event) => { if (this.source === source) fn(JSON.parse(event.data)); });
    on("snapshot", (data) => { this.records = data.records || []; this.apply(data, true); if (!data.records) this.loadLog(); });
    on("status", (data) => this.apply(data));
    on("progress", (data) => { this.addRecords(data.records); this.apply(data); });
    on("end", (data) => { this.apply(data, true); this.finish(data); });
    source.onerror = () => { if (this.state && !["queued", "running"].includes(this.state.status)) this.stop(); };
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
  }

  get active() {
    return this.state && ["queued", "running"].includes(this.state.status);
  }

  addRecords(records) {
    if (!records?.length) return;
    const last = this.records.length ? this.records[this.records.length - 1].step : -1;
    for (const record of records) if (record.step > last) this.records.push(record);
  }

  async loadLog() {
    try {
      const response = await fetch(runUrl(this.id, "/log"));
      if (response.ok) { this.records = (await response.json()).records; this.draw(); }
    } catch { /* the chart stays empty */ }
  }

  apply(data, full = false) {
    const els = this.els;
    this.state = { ...(this.state || {}), ...data };
    const s = this.state;
    badge(els.status, s.status);
    const steps = s.steps || 0;
    els.progress.max = Math.max(1, steps);
    els.progress.value = s.step || 0;
    els.step.textContent = steps ? `step ${s.step || 0} / ${steps}` : (s.status === "queued" ? "waiting for a worker" : "");
    els.rate.textContent = s.seconds_per_step ? `${seconds(s.seconds_per_step)} per step` : "";
    els.eta.textContent = s.status === "running" && s.eta !== null && s.eta !== undefined ? `${seconds(s.eta)} left` : "";
    if (data.image) this.showImage(data.image, data.image_step, data.image_at);
    else if (full && ((s.files || []).includes("final.png") || s.step > 0)) this.showImage(`${runUrl(this.id, "/image")}?v=${Date.now()}`);
    this.showLosses(s.losses || {}, s.total);
    if (els.cancel) els.cancel.hidden = !["queued", "running"].includes(s.status);
    if (els.resume) els.resume.hidden = !s.resumable || ["queued", "running"].includes(s.status);
    if (els.error) els.error.textContent = s.error || "";
    this.draw();
  }

  showImage(src, step, at) {
    const img = this.els.image;
    img.hidden = false;
    img.src = src;
    if (at) {
      img.decode().then(() => {
        const times = window.__studioImageTimes;
        times.push({ id: this.id, step, stepEnd: at * 1000, shown: Date.now() });
        if (times.length > 500) times.shift();
      }).catch(() => {});
    }
  }

  showLosses(losses, total) {
    const table = clear(this.els.losses);
    const names = ["total", ...Object.keys(losses)];
    names.forEach((name, i) => {
      const value = name === "total" ? total : losses[name];
      if (value === undefined || value === null) return;
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = COLORS[i % COLORS.length]; // a CSSOM style: the CSP refuses style attributes
      table.append(h("tr", {}, h("td", {}, swatch, name), h("td", { text: number(value) })));
    });
  }

  draw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => { this.drawPending = false; drawChart(this.els.chart, this.records); });
  }

  finish(data) {
    this.stop();
    if (this.els.eta) this.els.eta.textContent = "";
    if (data.status !== "cancelled") this.showImage(`${runUrl(this.id, "/image")}?v=${Date.now()}`);
    this.onEnd?.(data);
  }

  async cancel() {
    try {
      const answer = await post(runUrl(this.id, "/cancel"));
      toast(answer.status === "cancelled" ? "Taken off the queue" : "Stopping: the run keeps its image and checkpoint");
    } catch (error) { toast(error.message, true); }
  }

  async resume() {
    try {
      await post(runUrl(this.id, "/resume"), {});
      toast("Queued to go on from its checkpoint");
      this.follow(this.id, this.els.title?.textContent);
      this.onResume?.(this.id);
    } catch (error) { toast(error.message, true); }
  }
}

