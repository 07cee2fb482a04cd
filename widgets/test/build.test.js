// The module the wheel ships is what the build makes of src/, and it loads as an ES module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { SHIPPED, bundle } from "../build.mjs";

test("nasbench/widgets/static/view.js is the build of widgets/src (run `make widgets`)", () => {
  assert.equal(readFileSync(SHIPPED, "utf8"), bundle());
});

test("the bundle is one self-contained module with the anywidget entry points", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "nasbench-view-")), "view.mjs");
  writeFileSync(file, bundle());
  const module = await import(pathToFileURL(file).href);
  assert.deepEqual(Object.keys(module), ["default"]);
  assert.equal(typeof module.default.initialize, "function");
  assert.equal(typeof module.default.render, "function");
});
