// The browser side of every nasbench view (one small ES module for all of them), with the state
// logic of state.js (base + patch, the redraw budget). `node build.mjs` bundles the two into
// nasbench/widgets/static/view.js, the module the wheel ships.
//
// plotly.js comes once per page: from `window.Plotly` when the page already has it (JupyterLab's
// plotly extension sets it when it draws a static figure), else from the kernel's single
// `PlotlyLoader` model, which carries plotly.min.js gzipped (~1.5 MB, once per kernel). What is
// drawn is always the model's base + patch (state.js), so a view that starts late (its module or
// plotly.js still loading while the kernel sends) or is shown again draws the latest state.

import { Figures, RedrawBudget, choiceCalls, current, points, withChoices } from "./state.js";

const PLOTLY = "__nasbenchPlotly";
const MIME = "application/vnd.plotly.v1+json";
const FIGURES = new Figures();  // model key -> {base, patchText, redraws: Set of functions, ...}

// plotly.js through JupyterLab's plotly extension, when the page has it: draw an empty figure
// off-screen with the extension's renderer, which loads its plotly.js and sets `window.Plotly`.
// The static figures every finished view leaves are drawn by that same extension, so the page
// then holds one plotly.js instead of two.
async function fromExtension(model) {
  const rendermime = model.widget_manager && model.widget_manager.rendermime;
  if (!rendermime || !rendermime.mimeTypes || !rendermime.mimeTypes.includes(MIME)) return null;
  const renderer = rendermime.createRenderer(MIME);
  const host = renderer.node;
  // off-screen and zero-sized: the extension skips its PNG snapshot of a figure it cannot see
  Object.assign(host.style, { position: "absolute", left: "-10000px", width: "0px", height: "0px", overflow: "hidden" });
  document.body.appendChild(host);
  try {
    await renderer.renderModel(rendermime.createModel({ data: { [MIME]: { data: [], layout: { height: 10 } } } }));
  } finally {
    host.remove();
    renderer.dispose();
  }
  return globalThis.Plotly && globalThis.Plotly.react ? globalThis.Plotly : null;
}

// plotly.js from the kernel's PlotlyLoader (VS Code, or a page without the extension).
async function fromKernel(model) {
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
}

function loadPlotly(model) {
  if (!globalThis[PLOTLY]) {
    globalThis[PLOTLY] = (async () => {
      const from = (source, Plotly) => { globalThis.__nasbenchPlotlyFrom = source; return Plotly; };
      if (globalThis.Plotly && globalThis.Plotly.react) return from("page", globalThis.Plotly);
      let Plotly = null;
      try {
        Plotly = await fromExtension(model);
      } catch (error) {
        console.warn("nasbench: plotly.js from the page's plotly extension failed, using the kernel's", error);
      }
      return Plotly ? from("extension", Plotly) : from("kernel", await fromKernel(model));
    })();
    globalThis[PLOTLY].catch(() => { delete globalThis[PLOTLY]; });
  }
  return globalThis[PLOTLY];
}

// The redraws and failures of every view, for the browser test.
function log(entry) {
  (globalThis.__nasbenchLog = globalThis.__nasbenchLog || []).push({ ...entry, t: Date.now() });
}

const CONFIG = { responsive: true, displaylogo: false };

// Plotly.react, or a fresh plot where react cannot get from the figure drawn to this one (it
// throws "Something went wrong with axis scaling" going from a view's empty placeholder to the
// subplots it lays out at run_start, when no state in between was drawn).
async function draw(Plotly, plot, fig, again) {
  try {
    await Plotly.react(plot, fig.data, fig.layout, CONFIG);
  } catch (error) {
    const fresh = again();          // (react has written into `fig`)
    Plotly.purge(plot);             // (drops the plot's event listeners too)
    plot.listening = false;
    await Plotly.newPlot(plot, fresh.data, fresh.layout, CONFIG);
  }
}

export default {
  initialize({ model }) {
    const onUpdate = () => {
      const s = FIGURES.read(model);
      for (const redraw of s.redraws) redraw();
    };
    model.on("change:_seq", onUpdate);
    return () => model.off("change:_seq", onUpdate);
  },

  async render({ model, el }) {
    const s = FIGURES.read(model);
    el.classList.add("nasbench-view");
    el.style.width = "100%";
    const plot = document.createElement("div");
    plot.style.width = "100%";
    plot.dataset.key = s.key;
    el.appendChild(plot);
    const Plotly = await loadPlotly(model);
    const picked = new Map();  // a dropdown the reader used: menu -> button (kept across redraws)
    const budget = new RedrawBudget();
    let drawing = Promise.resolve();
    let drawn = 0;   // the updates the last finished redraw showed
    const redraw = () => {
      const wait = budget.request(performance.now());
      if (wait === null) return;  // updates that come meanwhile are drawn together, as the latest state
      setTimeout(() => requestAnimationFrame(() => {
        budget.start(performance.now());
        FIGURES.read(model);                 // the model's latest figure
        const updates = s.updates;
        const prepared = () => withChoices(current(s), picked);  // with the reader's dropdown choices
        const fig = prepared();
        // one redraw after the other; one that fails is logged and the next one goes on
        drawing = drawing.then(() => draw(Plotly, plot, fig, prepared)).then(async () => {
          if (!plot.listening) {
            plot.listening = true;
            plot.on("plotly_buttonclicked", (e) => picked.set(e.menu._index, e.active));
          }
          for (const [method, args] of choiceCalls(fig, picked)) {   // redo the reader's choice on the new data
            await Plotly[method](plot, ...args);
          }
          budget.done(performance.now());
          plot.dataset.updates = String(updates);
          drawn = Math.max(drawn, updates);
          log({ key: s.key, updates, points: points(fig.data), initial: s.initial });
        }).catch((error) => {
          console.error("nasbench: a view could not redraw", error);
          log({ key: s.key, updates, error: String(error) });
        });
      }), wait);
    };
    s.redraws.add(redraw);
    redraw();
    const resize = new ResizeObserver(() => { if (plot.data) Plotly.Plots.resize(plot); });
    resize.observe(el);
    return () => {
      // Removed (the run ended and its static figure took the place of the widget) with updates
      // that came but were not drawn yet: on a busy machine the end can overtake a redraw.
      FIGURES.read(model);
      if (s.updates > drawn) log({ key: s.key, updates: s.updates, drawn, overtaken: true, initial: s.initial });
      s.redraws.delete(redraw);
      resize.disconnect();
      Plotly.purge(plot);
    };
  },
};
