// The state logic of the views' browser side: pure functions and small classes, no DOM and no
// plotly.js, so node's test runner checks them (widgets/test/). view.js draws with them.
//
// A view model holds its figure as two synced strings: a base (`_figure`) and the patch from it
// to the current figure (`_patch`: changed top-level keys of changed traces and of the layout);
// `_seq` counts the updates. What is drawn is always base + patch, read from the model, so a view
// that starts late or is shown again draws the latest state: no update can be missed.

// A diff: {n: number of traces, traces: {i: {key: value | null}}, new: {i: full trace},
// layout: {key: value | null}}; null removes a key.
export function apply(fig, diff) {
  fig.data.length = Math.min(fig.data.length, diff.n);
  for (const [i, trace] of Object.entries(diff.new || {})) fig.data[+i] = trace;
  for (const [i, keys] of Object.entries(diff.traces || {})) patch(fig.data[+i], keys);
  patch(fig.layout, diff.layout || {});
  return fig;
}

export function patch(target, keys) {
  for (const [k, v] of Object.entries(keys)) {
    if (v === null) delete target[k];
    else target[k] = v;
  }
  return target;
}

// How much a figure shows (the browser test checks that live views grow).
export function points(data) {
  const size = (a) => (a && (a.length !== undefined ? a.length : a.bdata ? a.bdata.length : 0)) || 0;
  return data.reduce((n, t) => n + size(t.x) + size(t.z), 0);
}

// One entry per view model (by its `_key`), shared by every output that shows the view: the
// parsed base (parsed again only when the base text changes), the patch text, the update count
// and the redraw functions of the outputs showing it.
export class Figures {
  constructor() {
    this.byKey = new Map();
  }

  // The model's latest figure state (`model.get` reads the synced traits).
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

// A fresh copy of the current figure: plotly writes into what it is given, so each draw gets its
// own (one deep copy of the base, the patch parsed anew).
export function current(s) {
  const fig = structuredClone(s.base);
  if (s.patchText) apply(fig, JSON.parse(s.patchText));
  return fig;
}

// The dropdown choices a reader made (menu index -> button index), put back into a figure about
// to be drawn, and the button calls that redo them on the new data.
export function withChoices(fig, picked) {
  for (const [m, b] of picked) {
    if (fig.layout.updatemenus && fig.layout.updatemenus[m]) fig.layout.updatemenus[m].active = b;
  }
  return fig;
}

export function choiceCalls(fig, picked) {
  const calls = [];
  for (const [m, b] of picked) {
    const button = ((fig.layout.updatemenus || [])[m] || { buttons: [] }).buttons[b];
    if (button) calls.push([button.method, button.args]);
  }
  return calls;
}

export const BUDGET = 0.2;   // the share of the page's time one view may spend drawing

// When a view redraws: updates that come while a redraw is pending are drawn together, as the
// latest state; and a view spends at most `budget` of the time drawing, so a slow one waits
// longer (a draw that took `took` ms is followed by at least took / budget - took ms of rest).
export class RedrawBudget {
  constructor(budget = BUDGET) {
    this.budget = budget;
    this.pending = false;
    this.began = -Infinity;   // when the last draw started, and how long it took (ms)
    this.took = 0;
  }

  // A redraw is asked for at `now`: null when one is already pending, else the ms to wait.
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
