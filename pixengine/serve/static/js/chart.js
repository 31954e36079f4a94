// A loss chart on a canvas: the total and each loss over the steps, on a log scale when every
// value is positive (losses often span orders of magnitude).

export const COLORS = ["#f08a3c", "#6aa5f2", "#58c48b", "#e6c14f", "#c27ef0", "#ef5f67", "#4fd1d9", "#b0b7c6"];

export function seriesOf(records) {
  const names = ["total"];
  for (const record of records) {
    for (const name of Object.keys(record.losses || {})) if (!names.includes(name)) names.push(name);
  }
  return names.map((name) => ({
    name,
    points: records
      .map((r) => [r.step, name === "total" ? r.total : (r.losses || {})[name]])
      .filter(([, v]) => typeof v === "number" && Number.isFinite(v)),
  }));
}

export function drawChart(canvas, records) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const series = seriesOf(records || []).filter((s) => s.points.length);
  ctx.font = "11px system-ui, sans-serif";
  if (!series.length) {
    ctx.fillStyle = "#9aa1b1";
    ctx.fillText("no steps yet", 10, 20);
    return;
  }
  const values = series.flatMap((s) => s.points.map(([, v]) => v));
  const steps = series.flatMap((s) => s.points.map(([x]) => x));
  const log = values.every((v) => v > 0);
  const f = log ? Math.log10 : (v) => v;
  let lo = Math.min(...values.map(f)), hi = Math.max(...values.map(f));
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
  const pad = { left: 46, right: 8, top: 8, bottom: 18 };
  const X = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const Y = (v) => pad.top + (1 - (f(v) - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#343946";
  ctx.fillStyle = "#9aa1b1";
  for (let i = 0; i <= 3; i++) {
    const level = lo + ((hi - lo) * i) / 3;
    const y = pad.top + (1 - i / 3) * (height - pad.top - pad.bottom);
    ctx.beginPath(); ctx.moveTo(pad.left, y); ctx.lineTo(width - pad.right, y); ctx.stroke();
    const label = log ? 10 ** level : level;
    ctx.fillText(Math.abs(label) < 1e-2 || Math.abs(label) >= 1e4 ? label.toExponential(1) : label.toPrecision(2), 2, y + 4);
  }
  ctx.fillText(String(x0), pad.left, height - 4);
  ctx.fillText(String(x1), width - pad.right - 30, height - 4);
  series.forEach((s, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = s.name === "total" ? 2 : 1.2;
    ctx.beginPath();
    s.points.forEach(([x, v], j) => (j ? ctx.lineTo(X(x), Y(v)) : ctx.moveTo(X(x), Y(v))));
    ctx.stroke();
  });
}
