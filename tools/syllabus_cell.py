"""Put the syllabus map (the methods' family tree, prerequisites, an order through the notebooks)
into notebooks/00_tour.ipynb as the cell right after its first one.

    python tools/syllabus_cell.py          # idempotent: replaces the cell if it is there

The cell is found by its id, so the script can be run again after a merge that moved or edited
other cells; nothing else in the notebook changes.
"""
import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_tour.ipynb"
CELL_ID = "syllabus-map"

# An arrow A --> B reads "B builds on A": B keeps A's idea and changes one part of it (what, in
# the table). Dashed: a baseline for, not a successor of. Each arrow is what the later paper says
# of itself: Bender et al. simplify SMASH and ENAS (no hypernetwork, no controller); DARTS searches
# a NASNet/ENAS-style cell and cites weight sharing (ENAS, One-Shot) as the speed-up it starts
# from, and SMASH's generated weights only as another speed-up (so no arrow SMASH -> DARTS);
# ProxylessNAS answers the memory of differentiable NAS by binarising paths; Single-Path NAS
# replaces the multi-path supernets of ProxylessNAS and FBNet; SPOS revisits One-Shot; FairNAS
# answers SPOS's expectation fairness; Li & Talwalkar run random search with weight sharing in
# DARTS' space as a baseline for ENAS and DARTS.
TEXT = r"""## The course at a glance

Which method builds on which (an arrow points from a method to its successor; dashed: a baseline
for), with the notebook of each in brackets:

```mermaid
flowchart LR
    SMASH["SMASH (01)<br/>hypernetwork weights"] --> OS
    ENAS["ENAS (02)<br/>RL controller, shared weights"] --> OS
    OS["One-Shot (03)<br/>one supernet, path dropout"] --> DARTS
    ENAS --> DARTS
    DARTS["DARTS (04)<br/>softmax over ops, gradient on alpha"] --> AFTER["GDAS, SNAS, PC-DARTS,<br/>NASP, DARTS- (11)"]
    DARTS --> PROXY["ProxylessNAS (05)<br/>binarised paths, latency"]
    DARTS --> FB["FBNet (06)<br/>Gumbel-softmax, latency"]
    PROXY --> SP["Single-Path NAS (08)<br/>one superkernel per layer"]
    FB --> SP
    OS --> SPOS["SPOS (07)<br/>uniform single path, then evolution"]
    SPOS --> FAIR["FairNAS (09)<br/>strict fairness"]
    ENAS -.-> RS["random-WS (00)<br/>random search, shared weights"]
    DARTS -.-> RS
```

Three families: **differentiable** (DARTS and its successors: the architecture is a continuous
weight learned by gradient descent), **hardware-aware** (ProxylessNAS, FBNet, Single-Path NAS:
the measured latency of your machine is in the loss), and **two-stage single-path** (SPOS,
FairNAS: train the supernet first, with paths sampled independently of any architecture
weights, then search it).

| notebook | builds on | what changes | needs first | ideas to know before |
| --- | --- | --- | --- | --- |
| `00_tour` | (ENAS, DARTS: random-WS is their baseline) | random architectures, one shared supernet | - | a PyTorch training loop |
| `01_smash` | - | a hypernetwork generates each architecture's weights | 00 | convolution, Adam |
| `02_enas` | NAS with RL (Zoph & Le) | every child is a path of one shared network | 00 | REINFORCE with a baseline |
| `03_one_shot` | SMASH, ENAS | no hypernetwork, no controller: one supernet, path dropout | 00 | Kendall tau |
| `04_darts` | ENAS, One-Shot | a cell like ENAS', every op in one supernet as in One-Shot, mixed by a softmax; alpha learned by gradient (bilevel) | 00 (03 helps) | softmax, bilevel optimisation |
| `11_after_darts` | DARTS | Gumbel sampling (GDAS, SNAS), partial channels (PC-DARTS), proximal step (NASP), an auxiliary skip (DARTS-) | 04 | Gumbel-softmax, straight-through gradient |
| `05_proxylessnas` | DARTS | one or two binarised paths instead of all ops; latency in the loss | 04 | BinaryConnect |
| `06_fbnet` | DARTS | Gumbel-softmax over a layer-wise chain; latency in the loss | 04 (05 helps) | Gumbel-softmax |
| `08_single_path_nas` | ProxylessNAS, FBNet | one superkernel per layer; choices are thresholds on weight norms | 05 or 06 (07 helps) | straight-through gradient |
| `07_spos` | One-Shot | one uniform path per step; evolution on the trained supernet | 03 | BN statistics |
| `09_fairnas` | SPOS | every choice trained exactly once per step | 07 | Kendall tau |
| `10_compare` | all of them | every method against the ground truth and zero-cost proxies | 00, 03, 04, 07 | Kendall tau |

**Suggested order.** The numbers work in order; for a course on differentiable NAS take `11` right
after `04`. A four-session core: `00`, `03`, `04`, `07`; then any of the three tracks:
`04` → `11`; `05` → `06` → `08` (each measures a latency table of the machine);
`07` → `09` → `10`."""


def cell():
    lines = TEXT.split("\n")
    return {
        "cell_type": "markdown",
        "id": CELL_ID,
        "metadata": {},
        "source": [line + "\n" for line in lines[:-1]] + [lines[-1]],
    }


def main():
    nb = json.loads(NOTEBOOK.read_text())
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != CELL_ID]
    nb["cells"].insert(1, cell())
    NOTEBOOK.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
