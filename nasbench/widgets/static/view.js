// The browser side of every nasbench view (one small ES module for all of them).
//
// plotly.js comes once per page: from `window.Plotly` when the page already has it (JupyterLab's
// plotly extension sets it when it draws a static figure), else from the kernel's single
// `PlotlyLoader` model, which carries plotly.min.js gzipped (~1.5 MB, once per kernel). Each
// view model then receives its figure once (`_figure`, when it is first shown) and afterwards
// only diffs (custom messages): changed top-level keys of changed traces and of the layout.
// The model keeps the current figure, so a view shown again (or twice) draws the latest state.

const PLOTLY = "__nasbenchPlotly";
const FIGURES = new Map();  // model key -> {fig, redraws: Set of functions}

function loadPlotly(model) {
  if (!globalThis[PLOTLY]) {
    globalThis[PLOTLY] = (async () => {
      if (globalThis.Plotly && globalThis.Plotly.react) return globalThis.Plotly;
      const ref = model.get("_loader");
      const loader = await model.widget_manager.get_model(ref.slice("IPY_MODEL_".length));
      const bytes = loader.get("bundle");
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      const source = await new Response(stream).text();
      const module = { exports: {} };
      new Function("module", "exports", "define", source)(module, module.exports, undefined);
      const Plotly = module.exports.react ? module.exports : globalThis.Plotly;
      globalThis.Plotly = globalThis.Plotly || Plotly;
      return Plotly;
    })();
    globalThis[PLOTLY].catch(() => { delete globalThis[PLOTLY]; });
  }
  return globalThis[PLOTLY];
}

// A diff: {n: number of traces, traces: {i: {key: value | null}}, new: {i: full trace},
// layout: {key: value | null}}; null removes a key.
function apply(fig, diff) {
  fig.data.length = Math.min(fig.data.length, diff.n);
  for (const [i, trace] of Object.entries(diff.new || {})) fig.data[+i] = trace;
  for (const [i, keys] of Object.entries(diff.traces || {})) patch(fig.data[+i], keys);
  patch(fig.layout, diff.layout || {});
}

function patch(target, keys) {
  for (const [k, v] of Object.entries(keys)) {
    if (v === null) delete target[k];
    else target[k] = v;
  }
}

function state(model) {
  const key = model.get("_key");
  if (!FIGURES.has(key)) {
    const fig = JSON.parse(model.get("_figure"));
    FIGURES.set(key, { key, fig, initial: points(fig.data), redraws: new Set(), updates: 0 });
  }
  return FIGURES.get(key);
}

// How much a figure shows (the browser test checks that live views grow).
function points(data) {
  const size = (a) => (a && (a.length !== undefined ? a.length : a.bdata ? a.bdata.length : 0)) || 0;
  return data.reduce((n, t) => n + size(t.x) + size(t.z), 0);
}

export default {
  initialize({ model }) {
    const s = state(model);
    const onMessage = (msg) => {
      if (!msg || msg.diff === undefined) return;
      apply(s.fig, JSON.parse(msg.diff));
      s.updates += 1;
      for (const redraw of s.redraws) redraw();
    };
    model.on("msg:custom", onMessage);
    return () => model.off("msg:custom", onMessage);
  },

  async render({ model, el }) {
    const s = state(model);
    el.classList.add("nasbench-view");
    el.style.width = "100%";
    const plot = document.createElement("div");
    plot.style.width = "100%";
    plot.dataset.key = s.key;
    el.appendChild(plot);
    const Plotly = await loadPlotly(model);
    const picked = new Map();  // a dropdown the reader used: menu -> button (kept across redraws)
    let listening = false;
    let pending = false;
    let drawing = Promise.resolve();
    const redraw = () => {
      if (pending) return;  // at most one redraw per animation frame
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        const fig = structuredClone(s.fig);  // plotly writes into what it is given
        const updates = s.updates;
        for (const [m, b] of picked) {
          if (fig.layout.updatemenus && fig.layout.updatemenus[m]) fig.layout.updatemenus[m].active = b;
        }
        drawing = drawing.then(() => Plotly.react(plot, fig.data, fig.layout,
          { responsive: true, displaylogo: false })).then(async () => {
          if (!listening) {
            listening = true;
            plot.on("plotly_buttonclicked", (e) => picked.set(e.menu._index, e.active));
          }
          for (const [m, b] of picked) {   // redo the reader's choice on the new data
            const button = ((fig.layout.updatemenus || [])[m] || { buttons: [] }).buttons[b];
            if (button) await Plotly[button.method](plot, ...button.args);
          }
          plot.dataset.updates = String(updates);
          (globalThis.__nasbenchLog = globalThis.__nasbenchLog || []).push(
            { key: s.key, updates, points: points(fig.data), initial: s.initial, t: Date.now() });
        });
      });
    };
    s.redraws.add(redraw);
    redraw();
    const resize = new ResizeObserver(() => { if (plot.data) Plotly.Plots.resize(plot); });
    resize.observe(el);
    return () => {
      s.redraws.delete(redraw);
      resize.disconnect();
      Plotly.purge(plot);
    };
  },
};
