// The studio's page: three views (Create, Gallery, a run), one live run panel, the queue, and
// the global event stream that keeps them current without polling.

import { get, post, runUrl } from "./api.js";
import { $, clear, h, toast } from "./dom.js";
import { RecipeDrop } from "./drop.js";
import { RunForm } from "./form.js";
import { Gallery, RunPage } from "./gallery.js";
import { LiveView } from "./live.js";

const live = new LiveView({
  title: $("live-title"), status: $("live-status"), image: $("live-image"), progress: $("live-progress"),
  step: $("live-step"), rate: $("live-rate"), eta: $("live-eta"), losses: $("live-losses"), chart: $("live-chart"),
  cancel: $("live-cancel"), resume: $("live-resume"), open: $("live-open"), error: $("live-error"),
}, { onEnd: () => { refreshQueue(); if (route().view === "gallery") gallery.load(); } });

function follow(id) {
  localStorage.setItem("studio.followed", id);
  live.follow(id);
  location.hash = "#/";
}

const form = new RunForm({ onSubmitted: (created) => follow(created.id) });
const gallery = new Gallery();
let info = {};
const runPage = new RunPage({
  info: new Proxy({}, { get: (_, key) => info[key] }),
  onRemix: (recipe) => { form.load(recipe); location.hash = "#/"; toast("Recipe loaded: change what you like, then Generate"); },
  onFollow: follow,
});
new RecipeDrop({ form, onApply: () => { if (route().view !== "create") location.hash = "#/"; } });

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  if (hash.startsWith("runs/")) return { view: "run", id: decodeURIComponent(hash.slice(5)) };
  if (hash.startsWith("gallery")) return { view: "gallery" };
  return { view: "create" };
}

async function show() {
  const { view, id } = route();
  for (const name of ["create", "gallery", "run"]) $(`view-${name}`).hidden = name !== view;
  $("nav-create").classList.toggle("active", view === "create");
  $("nav-gallery").classList.toggle("active", view !== "create");
  try {
    if (view === "gallery") await gallery.load();
    if (view === "run") await runPage.show(id);
  } catch (error) {
    toast(error.message, true);
  }
}

// -- the queue ----------------------------------------------------------------------------------

const queueCache = new Map();
async function refreshQueue(snapshot) {
  snapshot = snapshot || await get("/api/queue");
  const ids = [...snapshot.running, ...snapshot.pending];
  const list = clear($("queue-list"));
  for (const id of ids) {
    let run = queueCache.get(id);
    if (!run) {
      try { run = await get(runUrl(id)); } catch { continue; }
      queueCache.set(id, run);
    }
    const running = snapshot.running.includes(id);
    list.append(h("li", { dataset: { id } },
      h("a", { href: "#/", onclick: (event) => { event.preventDefault(); follow(id); }, text: `${run.preset} · ${run.prompt || id}` }),
      " ", h("span", { class: `badge ${running ? "running" : "queued"}`, text: running ? "running" : "queued" }),
      h("span", { class: "note step", text: "" }),
      h("button", { type: "button", title: "cancel", "aria-label": `cancel ${id}`, onclick: () => cancel(id) }, "✕")));
  }
  if (!ids.length) list.append(h("li", { class: "note", text: "nothing waiting" }));
  const busy = snapshot.running.length, waiting = snapshot.pending.length;
  const workers = snapshot.workers ? `${snapshot.workers} worker${snapshot.workers === 1 ? "" : "s"}` : "starting the worker…";
  $("queue-status").textContent = busy || waiting ? `${busy} running · ${waiting} waiting` : `idle · ${workers}`;
  // The panel follows the newest running run when it is not watching one.
  if (snapshot.running.length && !live.active && route().view === "create") live.follow(snapshot.running[0]);
}

async function cancel(id) {
  try {
    const answer = await post(runUrl(id, "/cancel"));
    toast(answer.status === "cancelled" ? "Taken off the queue" : "Stopping: the run keeps its image and checkpoint");
  } catch (error) { toast(error.message, true); }
}

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("queue", (event) => refreshQueue(JSON.parse(event.data)));
  events.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    const item = document.querySelector(`#queue-list li[data-id="${CSS.escape(data.id)}"] .step`);
    if (item) item.textContent = ` ${data.step}/${data.steps}`;
  });
  const galleryChanged = () => { if (route().view === "gallery") gallery.load(); };
  events.addEventListener("run", (event) => { queueCache.delete(JSON.parse(event.data).id); galleryChanged(); });
  events.addEventListener("runs", galleryChanged);
}

async function start() {
  info = await get("/api/info");
  await form.init();
  window.addEventListener("hashchange", show);
  await show();
  listen();
  const followed = localStorage.getItem("studio.followed");
  if (followed) {
    try { await get(runUrl(followed)); live.follow(followed); } catch { localStorage.removeItem("studio.followed"); }
  }
  document.body.dataset.ready = "true";
}

start().catch((error) => toast(`The studio could not start: ${error.message}`, true));
