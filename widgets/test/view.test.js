// view.js end to end without a browser: a stand-in page (a few DOM calls, plotly.js recording
// what it is asked to draw) and a stand-in widget model. What the browser test checks in
// chromium, in the small: a view draws base + patch, and updates that come while a redraw is
// pending are drawn together, as the latest state.
import { test } from "node:test";
import assert from "node:assert/strict";

const drawn = [];
const element = () => ({ style: {}, dataset: {}, classList: { add() {} }, appendChild() {},
                         on(event, handler) { this.handlers = { ...this.handlers, [event]: handler }; } });
globalThis.document = { createElement: element, body: { appendChild() {} } };
globalThis.ResizeObserver = class { observe() {} disconnect() {} };
globalThis.requestAnimationFrame = (f) => setTimeout(f, 0);
globalThis.Plotly = {   // the page's plotly.js (JupyterLab's extension sets window.Plotly)
  async react(plot, data, layout) { drawn.push({ data: structuredClone(data), layout: structuredClone(layout) }); plot.data = data; },
  async newPlot() { throw new Error("react worked: no fresh plot expected"); },
  purge() {},
  Plots: { resize() {} },
};
const { default: view } = await import("../src/view.js");

function model(traits) {
  const handlers = {};
  return { traits, widget_manager: {}, get: (name) => traits[name],
           on: (event, f) => { handlers[event] = f; }, off: (event) => { delete handlers[event]; },
           send(changes) { Object.assign(traits, changes); if (handlers["change:_seq"]) handlers["change:_seq"](); } };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
const BASE = { data: [{ x: [0], y: [1] }], layout: { title: "step 0" } };

test("a view draws base + patch, and the latest state when updates come faster than it draws", async () => {
  const m = model({ _key: "view-1", _figure: JSON.stringify(BASE), _patch: "", _seq: 0 });
  const stop = view.initialize({ model: m });
  const cleanup = await view.render({ model: m, el: element() });
  await settle();
  assert.equal(drawn.length, 1);
  assert.deepEqual(drawn[0], BASE);
  m.send({ _patch: JSON.stringify({ n: 1, traces: { 0: { x: [0, 1], y: [1, 2] } } }), _seq: 1 });
  m.send({ _patch: JSON.stringify({ n: 1, traces: { 0: { x: [0, 1, 2], y: [1, 2, 3] } }, layout: { title: "step 2" } }),
           _seq: 2 });
  await settle();
  assert.equal(drawn.length, 2);                           // the two updates drawn together
  assert.deepEqual(drawn[1], { data: [{ x: [0, 1, 2], y: [1, 2, 3] }], layout: { title: "step 2" } });
  const log = globalThis.__nasbenchLog.filter((e) => e.key === "view-1");
  assert.deepEqual(log.map((e) => [e.updates, e.points]), [[0, 1], [2, 3]]);
  cleanup();
  stop();
  m.send({ _seq: 3 });
  await settle();
  assert.equal(drawn.length, 2);                           // a closed view draws no more
});
