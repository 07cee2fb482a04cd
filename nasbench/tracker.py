"""Our event log from your own training loop: a few lines added to any search (a fork of DARTS,
a SPOS variant, a search inside your framework) write the events of docs/events.md, so every
view, `nasbench validate`, `nasbench report` and `nasbench.follow` work on it, live or afterwards.

    from nasbench.tracker import Tracker
    with Tracker("runs/mine", space={"layer0": ops, "layer1": ops}, method="my-spos") as run:
        for step, (x, y) in enumerate(loader):
            ...                                             # your forward / backward / update
            run.sample(step, path)                          # [2, 0] or one-hot rows
            run.step(step, loss, epoch=epoch)               # phase="weights" by default
            run.alpha(step, alphas, logits=True)            # DARTS-style architecture tensors
        run.genotype(step, best_path)

`step` counts weight updates over the whole run (never per epoch; a step that goes back, or a
second `weights` step at the same step, is refused). Architectures come as indices, one-hot rows,
`{decision: option}`, or in the formats of `nasbench.formats`: a DARTS `Genotype`, a
NAS-Bench-201 string; alpha as one tensor or DARTS' `model.arch_parameters()`. Alpha is logged at
full precision, softmaxed in the tensor's own dtype as the loop does, so a genotype derived from
the log is the loop's own. `acc` is a fraction (0..1): divide percent by 100.

It needs nothing else of nasbench (no Search base, data or spaces), though one of our spaces can
describe yours: `space="darts"` (the quark0/darts cells: decisions and op order as in
`alphas_normal` / `alphas_reduce`). Every call checks what it gets against the space and the
schema (shapes, option names and indices, finite numbers) and raises `TrackerError` in one line
*before* writing, so the log stays valid. Leaving the `with` block by an exception ends the log
with `run_end` `failed` (Ctrl-C: `interrupted`) and lets the exception go on.
"""
from __future__ import annotations

import json
import math
import os
import time
import uuid
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from nasbench import formats
from nasbench.events import SCHEMA, Event, Recorder, StepOrder, _check, make_event


class TrackerError(ValueError):
    """A value given to the tracker that does not fit the space or the event schema."""


# -- describing the space -------------------------------------------------------------------
def describe_space(space: Any, name: str | None = None) -> tuple[dict, Any]:
    """(the `run_start` space dict, the space object with its own `encode` / `decode`, or None)
    from what the user has: `{decision: [option, ...]}`, `{"decisions": [...], "options":
    [[...]]}`, one of our spaces' names ("darts", "nb201:nodes=3") or any object with `describe()`."""
    own = None
    if isinstance(space, str):
        from nasbench.spaces import get_space  # only when asked for one of ours by name
        space = get_space(space)
    if hasattr(space, "describe") and hasattr(space, "encode"):
        own = space
        space = space.describe()
    if not isinstance(space, Mapping):
        raise TrackerError("describe the space as {decision: [options]}, {'decisions': [...], "
                           "'options': [[...]]} or one of our spaces' names; got " + type(space).__name__)
    if "decisions" in space and "options" in space:
        described = {"name": str(name or space.get("name", "custom")), "decisions": list(space["decisions"]),
                     "options": [list(o) for o in space["options"]]}
        if "graph" in space:
            described["graph"] = space["graph"]
    else:
        described = {"name": str(name or "custom"), "decisions": list(space),
                     "options": [list(o) if isinstance(o, (list, tuple)) else o for o in space.values()]}
    decisions, options = described["decisions"], described["options"]
    if not decisions or len(decisions) != len(options):
        raise TrackerError(f"the space needs one option list per decision (got {len(decisions)} "
                           f"decisions, {len(options)} option lists)")
    if any(not isinstance(d, str) or not d for d in decisions) or len(set(decisions)) != len(decisions):
        raise TrackerError("decision names must be distinct non-empty strings")
    for d, opts in zip(decisions, options):
        if (not isinstance(opts, list) or not opts or any(not isinstance(o, str) for o in opts)
                or len(set(opts)) != len(opts)):
            raise TrackerError(f"decision {d!r}: options must be a non-empty list of distinct strings")
    described.setdefault("graph", chain_graph(decisions))
    return described, own


def chain_graph(decisions: Sequence[str]) -> dict:
    """The drawing of a space without one of its own: input -> one node per decision -> output."""
    ids = ["input", *decisions, "output"]
    nodes = [{"id": "input", "kind": "input"},
             *({"id": d, "kind": "choice", "decision": k} for k, d in enumerate(decisions)),
             {"id": "output", "kind": "output"}]
    return {"nodes": nodes, "edges": [{"source": u, "target": v} for u, v in zip(ids, ids[1:])]}


# -- turning what a training loop has into plain data ----------------------------------------
def _alpha_rows(block: Any, logits: bool) -> Any:
    """One alpha block as rows of plain numbers, softmaxed over each row when `logits`. A tensor
    (or a list of 1-D tensors) goes through torch's own softmax in its dtype, as the loop's
    genotype does, so the log holds the very numbers the loop compares (no rounding: near-ties
    stay as they are). What is not rows comes back as it is, for `_rows` to name."""
    if hasattr(block, "detach"):
        import torch  # the tensor's own library, already loaded
        t = block.detach().cpu()
        t = t.unsqueeze(0) if t.dim() == 1 else t
        return (torch.softmax(t, dim=-1) if logits else t).tolist()
    if isinstance(block, (list, tuple)) and block and all(hasattr(r, "detach") for r in block):
        return [row for r in block for row in _alpha_rows(r, logits)]       # ragged tensor rows
    rows = _plain(block)
    if isinstance(rows, list) and rows and not isinstance(rows[0], list):
        rows = [rows]                                                       # one row
    if not logits or not isinstance(rows, list) or not all(isinstance(r, list) and r for r in rows):
        return rows
    out = []
    for row in rows:
        row = [_number(v, "alpha") for v in row]
        e = [math.exp(v - max(row)) for v in row]
        out.append([v / sum(e) for v in e])
    return out


def _plain(x: Any) -> Any:
    """Tensors and numpy arrays (also inside lists) as nested Python lists / numbers."""
    if hasattr(x, "detach"):                                 # a torch tensor
        x = x.detach().cpu()
    if hasattr(x, "tolist"):                                 # tensor, numpy array or scalar
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _number(x: Any, what: str) -> float:
    x = _plain(x)
    if isinstance(x, list) and len(x) == 1:
        x = x[0]
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TrackerError(f"{what} must be a number, got {x!r:.60}")
    if not math.isfinite(x):
        raise TrackerError(f"{what} is {x}, not a finite number")
    return float(x)


def _index(x: Any, what: str) -> int:
    x = _plain(x)
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    if isinstance(x, bool) or not isinstance(x, Integral) or x < 0:
        raise TrackerError(f"{what} must be a non-negative integer, got {x!r:.60}")
    return int(x)


class Tracker:
    """Writes a foreign loop's events to `out` (a run directory, or a `.jsonl` path) and hands
    them to `callbacks` (views in the same process). See the module docstring."""

    def __init__(self, out: str | os.PathLike | None, space: Any, *, method: str = "custom",
                 dataset: str = "custom", seed: int = 0, config: Mapping | None = None,
                 callbacks: Iterable[Callable[[Event], None]] = (), overwrite: bool = False,
                 space_name: str | None = None):
        self.space, self._own = describe_space(space, space_name)
        self.decisions, self.options = self.space["decisions"], self.space["options"]
        self.callbacks = list(callbacks)
        self.best: list[int] | None = None   # what run_end reports: the last genotype, or set it
        self.status: str | None = None       # set when the run has ended
        self.steps = 0                        # one more than the largest `step` logged
        self.run_id = uuid.uuid4().hex[:12]   # tells this run from an earlier one in the same folder
        self._n, self._epoch, self._order = 0, 0, StepOrder()
        try:
            config = json.loads(json.dumps(dict(config or {}), default=str, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise TrackerError(f"config must be a mapping of plain values: {e}") from None
        self.dir, self._recorder = None, None
        if out is not None:
            path = Path(out)
            self.dir, path = (None, path) if path.suffix == ".jsonl" else (path, path / "events.jsonl")
            if path.exists() and path.stat().st_size and not overwrite:
                raise TrackerError(f"{path} already holds a run; pass overwrite=True or another folder")
            self._recorder = Recorder(path)
        self.path = self._recorder.path if self._recorder else None
        self._t0 = time.perf_counter()
        self._emit("run_start", method=str(method), dataset=str(dataset), seed=_index(seed, "seed"),
                   config=config, space=self.space, run_id=self.run_id)

    # -- the events ----------------------------------------------------------------------------
    def step(self, step: int, loss: Any, *, phase: str = "weights", epoch: int | None = None,
             acc: Any = None, lr: Any = None) -> None:
        """One optimisation step of `phase` (`weights`, `arch`, ...): its loss, optional acc (a
        fraction, 0..1) and lr. `step` counts weight updates over the run: never per epoch."""
        if epoch is not None:
            self._epoch = _index(epoch, "epoch")
        fields = {"acc": _number(acc, "acc")} if acc is not None else {}
        if acc is not None and not 0 <= fields["acc"] <= 1:
            raise TrackerError(f"acc is a fraction of correct predictions (0..1), got {fields['acc']:.6g}"
                               + ("; it looks like percent: pass acc / 100" if fields["acc"] <= 100 else ""))
        if lr is not None:
            fields["lr"] = _number(lr, "lr")
        self._emit("step", step=self._step(step), epoch=self._epoch, phase=str(phase),
                   loss=_number(loss, f"the {phase} loss at step {step}"), **fields)

    def sample(self, step: int, choices: Any, purpose: str = "train") -> None:
        """The path that was run: option indices, one-hot rows, or {decision: option}."""
        c = self.choices(choices)
        self._emit("sample", step=self._step(step), choices=c, arch=self.arch(c), purpose=purpose)

    def alpha(self, step: int, values: Any, *, logits: bool) -> None:
        """The architecture distribution: one row per decision: a 2-D tensor (e.g.
        `torch.cat([alphas_normal, alphas_reduce])`), a list of per-cell 2-D tensors (DARTS'
        `model.arch_parameters()`), or a list of 1-D rows. `logits=True`: raw architecture
        parameters, softmaxed per row here as the loop would (a tensor in its own dtype);
        `logits=False`: rows already sum to 1. Logged at full precision."""
        if not isinstance(logits, bool):
            raise TrackerError("say what alpha holds: logits=True (raw parameters) or logits=False (probabilities)")
        parts = [_alpha_rows(part, logits) for part in formats.blocks(values)]
        rows = self._rows(parts[0] if len(parts) == 1 else [r for p in parts for r in p], "alpha")
        if not logits:
            for d, row in enumerate(rows):
                if min(row) < 0 or abs(sum(row) - 1) > 1e-3:
                    raise TrackerError(f"alpha row {d} ({self.decisions[d]}) sums to {sum(row):.4g} with min "
                                       f"{min(row):.4g}: not probabilities; pass logits=True for raw parameters")
        self._emit("alpha", step=self._step(step), probs=rows)

    def genotype(self, step: int, choices: Any) -> None:
        """The architecture the search would return now (becomes `best` in `run_end`)."""
        c = self.choices(choices)
        self.best = c
        self._emit("genotype", step=self._step(step), arch=self.arch(c), choices=c)

    def metric(self, step: int, name: str, value: Any) -> None:
        """Any scalar over time (entropy, reward, temperature, ...)."""
        self._emit("metric", step=self._step(step), name=str(name), value=_number(value, f"metric {name!r}"))

    def eval(self, choices: Any, score: Any, metric: str = "score", **extra: Any) -> None:
        """An architecture scored (`metric` names what `score` is); optional `step`, `truth`,
        `kl`, `generation`, `flops`, `params`."""
        c = self.choices(choices)
        allowed = SCHEMA["eval"][1]
        unknown = sorted(set(extra) - set(allowed))
        if unknown:
            raise TrackerError(f"eval has no field {unknown[0]!r}; optional fields: {', '.join(allowed)}")
        fields = {k: (_index(v, k) if allowed[k] is int else _number(v, k)) for k, v in extra.items()}
        self._emit("eval", arch=self.arch(c), choices=c, score=_number(score, "score"), metric=str(metric), **fields)

    def end(self, status: str = "completed", error: str | None = None) -> None:
        """Write `run_end` (and `summary.json` in a run directory); later calls do nothing."""
        if self.status is not None:
            return
        wall = time.perf_counter() - self._t0
        best = self.arch(self.best) if self.best is not None else None
        self._emit("run_end", status=status, **({"error": str(error).splitlines()[0][:500]} if error else {}),
                   **({"best": best} if best else {}), wall=round(wall, 3))
        self.status = status
        if self._recorder is not None:
            self._recorder.close()
        if self.dir is not None:
            theirs = formats.foreign(self.best, self.space) if self.best is not None else None
            theirs = theirs if theirs != best else None     # a NAS-Bench-201 string is `best` already
            summary = {"method": self._method, "run_id": self.run_id, "status": status, "best": best,
                       "best_choices": self.best, **({"best_foreign": theirs} if theirs else {}),
                       "steps": self.steps, "wall": round(wall, 3), **({"error": error} if error else {})}
            (self.dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, kind, error, tb) -> bool:
        if kind is None:
            self.end("completed")
        elif issubclass(kind, KeyboardInterrupt):
            self.end("interrupted")
        else:
            self.end("failed", f"{kind.__name__}: {error}")
        return False  # the exception goes on

    # -- helpers -------------------------------------------------------------------------------
    def choices(self, value: Any) -> list[int]:
        """Option indices from indices, one-hot rows (a mask tensor), {decision: option}, or a
        foreign format (`nasbench.formats`: a DARTS Genotype, a NAS-Bench-201 string)."""
        n = len(self.decisions)
        try:
            foreign = formats.parse(value, self.space)
            if foreign is None and isinstance(value, str) and self._own is not None:
                foreign = list(self._own.decode(value))   # the space's own canonical string
        except ValueError as e:
            raise TrackerError(str(e).splitlines()[0]) from None
        if foreign is not None:
            value = foreign
        elif isinstance(value, str):
            raise TrackerError(f"cannot read the architecture {value[:60]!r} in space {self.space['name']!r}; "
                               "pass option indices, one-hot rows or {decision: option}")
        if isinstance(value, Mapping):
            unknown = [d for d in value if d not in self.decisions]
            if unknown:
                raise TrackerError(f"unknown decision {unknown[0]!r}; decisions: {', '.join(self.decisions[:6])}"
                                   + (", ..." if n > 6 else ""))
            missing = [d for d in self.decisions if d not in value]
            if missing:
                raise TrackerError(f"no choice for decision {missing[0]!r} ({len(missing)} missing)")
            value = [value[d] if not isinstance(value[d], str) else self._option(d, value[d])
                     for d in self.decisions]
        value = _plain(value)
        if not isinstance(value, list) or len(value) != n:
            got = len(value) if isinstance(value, list) else type(value).__name__
            raise TrackerError(f"a path needs one choice per decision: {n}, got {got}")
        if all(isinstance(v, list) for v in value):                # one-hot rows
            rows = self._rows([[int(v) if isinstance(v, bool) else v for v in row] for row in value],
                              "the one-hot path")
            out = []
            for d, row in enumerate(rows):
                hot = [k for k, v in enumerate(row) if v != 0]
                if len(hot) != 1 or row[hot[0]] != 1:
                    raise TrackerError(f"row {d} ({self.decisions[d]}) of the one-hot path is not one-hot: {row}")
                out.append(hot[0])
            return out
        out = [_index(v, f"choice {d} ({self.decisions[d]})") for d, v in enumerate(value)]
        for d, c in enumerate(out):
            if c >= len(self.options[d]):
                raise TrackerError(f"choice {c} for decision {self.decisions[d]!r} is not one of its "
                                   f"{len(self.options[d])} options (0..{len(self.options[d]) - 1})")
        return out

    def arch(self, choices: Sequence[int]) -> str:
        """The canonical string of an architecture (the space's own `encode` when it has one)."""
        if self._own is not None:
            return self._own.encode(choices)
        return ",".join(f"{d}={o[c]}" for d, o, c in zip(self.decisions, self.options, choices))

    def _option(self, decision: str, name: str) -> int:
        options = self.options[self.decisions.index(decision)]
        if name not in options:
            raise TrackerError(f"unknown option {name!r} for decision {decision!r}; options: {', '.join(options)}")
        return options.index(name)

    def _rows(self, values: Any, what: str) -> list[list[float]]:
        """One row of finite numbers per decision, each as long as the decision's options."""
        rows = _plain(values)
        if not isinstance(rows, list) or len(rows) != len(self.decisions) or not all(isinstance(r, list) for r in rows):
            shape = f"{len(rows)} rows" if isinstance(rows, list) else type(rows).__name__
            raise TrackerError(f"{what} needs one row per decision ({len(self.decisions)}), got {shape}")
        for d, row in enumerate(rows):
            if len(row) != len(self.options[d]):
                raise TrackerError(f"{what} row {d} ({self.decisions[d]}) has {len(row)} values; the "
                                   f"decision has {len(self.options[d])} options")
            for v in row:
                _number(v, f"{what} row {d} ({self.decisions[d]})")
        return [[float(v) for v in row] for row in rows]

    def _step(self, step: Any) -> int:
        return _index(step, "step")

    def _emit(self, kind: str, **fields) -> None:
        if self.status is not None:
            raise TrackerError(f"the run has ended ({self.status}); start a new Tracker to log more")
        if kind == "run_start":
            self._method = fields["method"]
        event = make_event(kind, time.perf_counter() - self._t0, **fields)
        problems = _check(event, self._n + 1, self.space)
        if problems:  # a safety net: the checks above should have said it better
            raise TrackerError(problems[0])
        wrong = self._order.check(event)
        if wrong:
            raise TrackerError(f"{kind}: {wrong}")
        self._n += 1
        if isinstance(event.get("step"), int):
            self.steps = max(self.steps, event["step"] + 1)
        if self._recorder is not None:
            self._recorder(event)
        for callback in self.callbacks:
            callback(event)
