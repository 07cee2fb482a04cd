// Builds the module the wheel ships, nasbench/widgets/static/view.js, from src/: state.js and
// view.js in one ES module (anywidget loads a single file), state.js' exports made local and the
// comment lines left out (every kernel sends the module to the page; src/ keeps them).
//
//   node build.mjs           write it
//   node build.mjs --check   exit 1 when the shipped copy is not what the build produces
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const SHIPPED = join(here, "..", "nasbench", "widgets", "static", "view.js");

export function bundle() {
  const state = readFileSync(join(here, "src", "state.js"), "utf8");
  const view = readFileSync(join(here, "src", "view.js"), "utf8");
  const imports = /^import \{[^}]*\} from "\.\/state\.js";\n/m;
  if (!imports.test(view)) throw new Error("src/view.js must import its state logic from ./state.js in one line");
  const code = (state.replace(/^export (?=(function|class|const) )/gm, "") + "\n" + view.replace(imports, ""))
    .replace(/^[ \t]*\/\/.*\n/gm, "").replace(/\n{3,}/g, "\n\n");
  return ("// Built from widgets/src/ (state.js, view.js) by widgets/build.mjs: edit those, then run\n"
          + "// `make widgets`. The test suite checks that this file is what the build produces.\n"
          + code);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = bundle();
  if (process.argv.includes("--check")) {
    let shipped = null;
    try { shipped = readFileSync(SHIPPED, "utf8"); } catch { /* missing: not equal */ }
    if (shipped !== built) {
      console.error(`${SHIPPED} is not what widgets/build.mjs produces: run \`make widgets\``);
      process.exit(1);
    }
  } else {
    writeFileSync(SHIPPED, built);
  }
}
