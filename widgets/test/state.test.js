// The views' state logic without a browser: node --test (run by `make test`).
import { test } from "node:test";
import assert from "node:assert/strict";

import { BUDGET, Figures, RedrawBudget, apply, choiceCalls, current, points, withChoices } from "../src/state.js";

// A widget model as anywidget hands it to the module: `get` reads a synced trait.
function model(traits) {
  return { traits, get: (name) => traits[name] };
}

const BASE = { data: [{ x: [0, 1], y: [1, 2], name: "loss" }, { x: [0], y: [5], name: "acc" }],
               layout: { title: "step 1", height: 300 } };

test("a diff cuts, adds and patches traces and the layout; null removes a key", () => {
  const fig = structuredClone(BASE);
  apply(fig, { n: 3, new: { 2: { x: [7], name: "new" } }, traces: { 0: { y: [3, 4], name: null } },
               layout: { title: "step 2", height: null } });
  assert.deepEqual(fig, {
    data: [{ x: [0, 1], y: [3, 4] }, { x: [0], y: [5], name: "acc" }, { x: [7], name: "new" }],
    layout: { title: "step 2" },
  });
  apply(fig, { n: 1 });
  assert.deepEqual(fig.data, [{ x: [0, 1], y: [3, 4] }]);
});

test("what is drawn is base + patch, read from the model, a fresh copy each time", () => {
  const m = model({ _key: "k1", _figure: JSON.stringify(BASE), _patch: "", _seq: 0 });
  const figures = new Figures();
  const s = figures.read(m);
  assert.deepEqual(current(s), BASE);
  const base = s.base;
  // two updates arrive before the view draws: it draws the latest, never an older one
  m.traits._patch = JSON.stringify({ n: 2, traces: { 0: { y: [9, 9] } } });
  m.traits._seq = 1;
  m.traits._patch = JSON.stringify({ n: 2, traces: { 0: { y: [8, 8] } }, layout: { title: "step 3" } });
  m.traits._seq = 2;
  assert.equal(figures.read(m), s);                         // one state per model key
  assert.equal(s.base, base);                               // the base is parsed once, while unchanged
  assert.equal(s.updates, 2);
  const fig = current(s);
  assert.deepEqual(fig.data[0].y, [8, 8]);
  assert.equal(fig.layout.title, "step 3");
  fig.data[0].y.push(1);                                     // plotly writes into what it draws
  assert.deepEqual(current(s).data[0].y, [8, 8]);
  assert.deepEqual(s.base, BASE);
  m.traits._figure = JSON.stringify({ data: [], layout: {} });  // a new base (run_start)
  m.traits._patch = "";
  assert.notEqual(figures.read(m).base, base);
  assert.deepEqual(current(s), { data: [], layout: {} });
});

test("a view first seen after updates is marked so (initial -1), else counts its points", () => {
  const figures = new Figures();
  assert.equal(figures.read(model({ _key: "a", _figure: JSON.stringify(BASE), _patch: "", _seq: 0 })).initial, 3);
  assert.equal(figures.read(model({ _key: "b", _figure: JSON.stringify(BASE), _patch: "", _seq: 4 })).initial, -1);
});

test("points counts x and z entries, typed arrays included", () => {
  assert.equal(points([{ x: [1, 2, 3] }, { z: [[1], [2]] }, { x: { bdata: "AAAA", dtype: "f4" } }, {}]), 3 + 2 + 4);
});

test("the reader's dropdown choices survive a redraw", () => {
  const fig = { data: [], layout: { updatemenus: [{ active: 0, buttons: [
    { method: "restyle", args: [{ y: [[1]] }, [2]] }, { method: "restyle", args: [{ y: [[2]] }, [2]] }] }] } };
  const picked = new Map([[0, 1], [5, 0]]);                  // menu 5 does not exist (any more)
  assert.equal(withChoices(fig, picked).layout.updatemenus[0].active, 1);
  assert.deepEqual(choiceCalls(fig, picked), [["restyle", [{ y: [[2]] }, [2]]]]);
  assert.deepEqual(choiceCalls({ data: [], layout: {} }, picked), []);
});

test("redraws: one pending at a time, and a slow view rests so it draws at most BUDGET of the time", () => {
  assert.equal(BUDGET, 0.2);
  const b = new RedrawBudget();
  assert.equal(b.request(0), 0);           // the first draw goes at once
  assert.equal(b.request(1), null);        // asked again while pending: drawn together
  b.start(100);
  b.done(110);                             // the draw took 10 ms: the next may start 50 ms after it began
  assert.equal(b.request(115), 35);
  assert.equal(b.request(116), null);
  b.start(150);
  b.done(151);
  assert.equal(b.request(400), 0);         // long after: at once
  const slow = new RedrawBudget(0.5);
  slow.request(0);
  slow.start(0);
  slow.done(40);
  assert.equal(slow.request(40), 40);      // 40 ms of drawing in 80 ms: half the time
});
