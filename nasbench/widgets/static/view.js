// Built from widgets/src/ (state.js, view.js) by widgets/build.mjs: edit those, then run
// `make widgets`. The test suite checks that this file is what the build produces.

function apply(fig, diff) {
  fig.data.length = Math.min(fig.data.length, diff.n);
  for (const [i, trace] of Object.entries(diff.new || {})) fig.data[+i] = trace;
  for (const [i, keys] of Object.entries(diff.traces || {})) patch(fig.data[+i], keys);
  patch(fig.layout, diff.layout || {});
  return fig;
}

function patch(target, keys) {
  for (const [k, v] of Object.entries(keys)) {
    if (v === null) delete target[k];
    else target[k] = v;
  }
  return target;
}

function points(data) {
  const size = (a) => (a && (a.length !== undefined ? a.length : a.bdata ? a.bdata.length : 0)) || 0;
  return data.reduce((n, t) => n + size(t.x) + size(t.z), 0);
}

class Figures {
  constructor() {
    this.byKey = new Map();
  }

  read(model) {
    const key = model.get("_key");
    if (!this.byKey.has(key)) this.byKey.set(key, { key, baseText: null, base: null, patchText: null,
                                                   initial: null, redraws: new Set(), updates: 0 });
    const s = this.byKey.get(key);
    const baseText = model.get("_figure");
    if (baseText !== s.baseText) {
      s.baseText = baseText;
      s.base = JSON.parse(baseText);
    }
    s.patchText = model.get("_patch");
    s.updates = model.get("_seq");
    if (s.initial === null) s.initial = s.updates === 0 ? points(s.base.data) : -1;  // -1: not seen
    return s;
  }
}

function current(s) {
  const fig = structuredClone(s.base);
  if (s.patchText) apply(fig, JSON.parse(s.patchText));
  return fig;
}

function withChoices(fig, picked) {
  for (const [m, b] of picked) {
    if (fig.layout.updatemenus && fig.layout.updatemenus[m]) fig.layout.updatemenus[m].active = b;
  }
  return fig;
}

function choiceCalls(fig, picked) {
  const calls = [];
  for (const [m, b] of picked) {
    const button = ((fig.layout.updatemenus || [])[m] || { buttons: [] }).buttons[b];
    if (button) calls.push([button.method, button.args]);
  }
  return calls;
}

const BUDGET = 0.2;   // the share of the page's time one view may spend drawing

class RedrawBudget {
  constructor(budget = BUDGET) {
    this.budget = budget;
    this.pending = false;
    this.began = -Infinity;   // when the last draw started, and how long it took (ms)
    this.took = 0;
  }

  request(now) {
    if (this.pending) return null;
    this.pending = true;
    return Math.max(0, this.began + this.took / this.budget - now);
  }

  start(now) {
    this.pending = false;
    this.began = now;
  }

  done(now) {
    this.took = now - this.began;
  }
}

const PLOTLY = "__nasbenchPlotly";
const MIME = "application/vnd.plotly.v1+json";
const FIGURES = new Figures();  // model key -> {base, patchText, redraws: Set of functions, ...}

async function fromExtension(model) {
  const rendermime = model.widget_manager && model.widget_manager.rendermime;
  if (!rendermime || !rendermime.mimeTypes || !rendermime.mimeTypes.includes(MIME)) return null;
  const renderer = rendermime.createRenderer(MIME);
  const host = renderer.node;
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

function log(entry) {
  (globalThis.__nasbenchLog = globalThis.__nasbenchLog || []).push({ ...entry, t: Date.now() });
}

const CONFIG = { responsive: true, displaylogo: false };

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
      FIGURES.read(model);
      if (s.updates > drawn) log({ key: s.key, updates: s.updates, drawn, overtaken: true, initial: s.initial });
      s.redraws.delete(redraw);
      resize.disconnect();
      Plotly.purge(plot);
    };
  },
};
