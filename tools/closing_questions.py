"""Append (or refresh) the "Closing questions" cell at the end of every notebook.

    python tools/closing_questions.py            # rewrite the cells in notebooks/*.ipynb
    python tools/closing_questions.py --check    # exit 1 if a notebook's cell is missing or stale

The questions live here, once; the notebooks carry them as their last markdown cell (id
`closing-questions`), and docs/teaching.md points to them. Only that cell is touched: re-running
after a merge replaces it in place, or appends it if it is missing. The JSON layout of the rest
of the notebook (key order, indentation, final newline) is kept byte for byte.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "closing-questions"
TITLE = "## Closing questions"

# notebook stem -> (questions on what this run showed, discussion for a reading group, the guide's
# derivations in a few words)
QUESTIONS = {
    "00_tour": (
        ["Section 3 printed the five best shared-weight scores. How far apart are they, compared "
         "with the accuracy one validation batch can resolve? Would you trust their order?",
         "Section 4 trained the picked architecture and a random one from scratch "
         "(`picked_test_acc`). Did the pick win, and why can one pair not tell whether the "
         "search works?",
         "The TrainingBoard's loss fell although every step trained a different path. What does "
         "a falling supernet loss say about any one architecture, and what does it not say?",
         "Count the parameter-free ops (exercise 2) of the five best architectures. Is there a "
         "pattern? Why could shared weights favour cells that train fast?"],
        ["What does weight sharing buy, and what does it cost? List what could make a "
         "shared-weight score rank architectures differently from stand-alone training.",
         "Li & Talwalkar call random search with weight sharing a strong baseline. Against what "
         "budget should every later method of this course be compared with it?"],
        "the number of architectures, what uniform path sampling trains on average, and why one "
        "batch's accuracy is a noisy score"),
    "01_smash": (
        ["Section 4 printed the range of the SMASH scores and of the checked architectures' "
         "stand-alone accuracies. Which range is wider, and what does that do to `kendall_tau`?",
         "`kendall_tau` and `spearman_rho` come from the checked architectures (eight by "
         "default). Do they agree in sign? How wide would an interval on tau be with eight "
         "points?",
         "Some architectures scored near chance (0.10) with generated weights. Look them up in "
         "the memory-bank view: what about their reads, writes or sizes could make generated "
         "weights fail where trained ones do not?",
         "The hypernetwork saw a new architecture every batch. How many batches did any one "
         "architecture get? What does its SMASH score then measure: the architecture, or how "
         "well $H$ generalises to it?"],
        ["Brock et al. claim the SMASH score tracks final accuracy for a given hypernetwork "
         "capacity. What result on this task would falsify that claim?",
         "Generated weights (SMASH) against shared weights (ENAS, One-Shot): which constrains the "
         "candidates more, and which would you expect to rank better?"],
        "the hypernetwork's input $[\\mathbf{z}; \\mathbf{c}]$, the encoding's shape and the "
        "weight normalisation"),
    "02_enas": (
        ["In the ControllerPanel, was the advantage $R-b$ mostly positive, negative or centred "
         "on zero late in the run? What makes the moving-average baseline do that?",
         "Compare the printed `kendall_tau_log_prob` and `kendall_tau_acc`. Which score ranks the "
         "cells better, and what in the controller's rewards (one minibatch, shared weights "
         "still training) explains it?",
         "Which decisions made up their mind first in the panel, inputs or ops? Is a confident "
         "controller a correct one? Check its favourites against the ranking view.",
         "In the toy REINFORCE cell, predict what happens to learning with $b = 0$ and a reward "
         "in [0, 1], then try it."],
        ["Li & Talwalkar and Yu et al. found ENAS hard to tell from random sampling at small "
         "budgets. Is that a critique of REINFORCE, of weight sharing, or of a noisy reward?",
         "The official controller squashes logits with $1.1\\tanh(\\cdot)$, divides by a "
         "temperature and adds an entropy bonus to the reward. What does each do to exploration?"],
        "the REINFORCE gradient, why a baseline leaves it unbiased, and the attention over "
        "earlier nodes"),
    "03_one_shot": (
        ["Compare `kendall_tau_acc` and `kendall_tau_kl` with their bootstrap intervals. Do the "
         "intervals overlap? What can one seed tell you here?",
         "Where do the cells with the lowest KL sit in stand-alone accuracy (ranking view, KL "
         "selected)? Why does the full model lean on the skip paths of this cell?",
         "Section 6 swept five dropout rates over three seeds. Compare `dropout_tau_with - "
         "dropout_tau_r0` with `dropout_seed_sd`: could one pair of runs (one seed each) have shown "
         "the effect of r? What does dropout do to the KL ranking (`dropout_kl_tau_with`), and why?",
         "At $r = 0.5$, with each of $k = 3$ paths dropped with probability $r^{1/k}$, how likely "
         "is it that exactly one path survives? Work it out, then check against the figure of "
         "section 3."],
        ["Bender et al. see one-shot accuracies spread widely while stand-alone ones cluster. Is "
         "a wide spread good or bad news for ranking?",
         "The KL needs no labels. When is a label-free proxy worth its bias?"],
        "the path-dropout probability $r^{1/k}$, its linear ramp, and the symmetric KL"),
    "04_darts": (
        ["In the live AlphaEvolution, which edges settled first, and on which ops? Did the share "
         "of alpha on parameter-free ops grow over the run?",
         "First against second order: where do the two final alpha tables differ most? Was the "
         "second order worth its cost per step on this task?",
         "The collapse runs printed `darts_free_share`, the parameter-free share of the genotype "
         "over three seeds. Did the Hessian eigenvalue rise before the genotype filled with skips "
         "and pools, as Zela et al. found? How did seed 0's cell do from scratch against the "
         "all-convolution cell, and why is that gap small on 8x8 digits and large on CIFAR-10?",
         "The genotype rule ignores `none`. What would the genotype be if `none` could win, and "
         "what does a large weight on `none` say about an edge?"],
        ["DARTS replaces the inner optimisation by one weight step (eq. 6). What does that "
         "assume, and when should it break?",
         "Is the collapse a flaw of the relaxation, of the optimiser, or of the gap between "
         "softmax(alpha) and the argmax genotype? Compare Zela et al. with Chu et al. (DARTS-)."],
        "eqs. 6-8: the unrolled step, the chain rule and the finite-difference Hessian-vector "
        "product"),
    "05_proxylessnas": (
        ["The table predicted whole networks with the printed `pearson_r` and "
         "`mean_rel_error`. Where does the additive model miss, and would it do better on a GPU?",
         "`tight_over_loose_latency`: how much faster is the tight network, and what did it give "
         "up in task loss (panel)? Which candidates did it pick instead: `zero`, or smaller "
         "kernels?",
         "Each weight step ran one path, yet the expected latency in the panel moved smoothly. "
         "Why is $\\mathbb{E}[\\text{LAT}]$ differentiable in alpha?",
         "What would go wrong if, after a two-path update, alpha were left as the optimiser set "
         "it (no rescaling)?"],
        ["Memory flat in the number of candidates: what does ProxylessNAS pay instead? Is the "
         "BinaryConnect gradient an unbiased estimate of DARTS' gradient?",
         "\"The latency of your machine\": for a class of thirty different laptops, whose "
         "machine should the search optimise for?"],
        "the BinaryConnect gradient, the two-path sampling and its rescaling, eq. 5"),
    "06_fbnet": (
        ["The temperature fell epoch by epoch. In the alpha view, did theta sharpen before or "
         "after the temperature got low? What does a high temperature do to theta's gradient?",
         "`aware_over_blind_latency` was printed. How many layers became `skip` in each run, and "
         "is that where the latency went?",
         "FBNet's loss is $\\mathrm{CE}\\cdot\\alpha(\\log \\text{LAT})^\\beta$. What does $\\beta$ "
         "control, and why did the notebook raise it from 0.6 to 2 for a 1-ms network?",
         "The argmax of a Gumbel-softmax sample follows softmax(theta) at every temperature "
         "(exercise 1). So why anneal at all?"],
        ["ProxylessNAS (one binarised path) against FBNet (a soft Gumbel mask, every candidate "
         "runs): compare their memory, and the bias and variance of their gradients.",
         "The paper found many `skip` layers when searching on CIFAR. An artefact of the proxy "
         "task, or a finding about small images?"],
        "the Gumbel-max trick, the Gumbel-softmax relaxation and its temperature, eq. 6"),
    "07_spos": (
        ["How large was the fairness view's gap at the end, against the mean count per block? "
         "Does it fit a binomial's $\\sqrt{t}$?",
         "Compare the subnets' accuracies with the supernet's BN statistics and after "
         "recalibration (`recalibrated_acc`). Which paths gained most, and why?",
         "In the EvolutionPanel, did the best path improve after the first generation? How many "
         "distinct paths were scored out of 256, and would random search with as many "
         "evaluations have done as well?",
         "Exercise 1's untouched weights had gradient `None`. With `set_to_none=False`, what "
         "would momentum and weight decay have done to them?"],
        ["Decoupling supernet training from the search buys many budgets from one supernet. What "
         "does it assume about the ranking?",
         "Uniform over blocks against the official code's uniform over FLOPs bins: which "
         "architectures does each train more often?"],
        "uniform single-path sampling, what it gives every block in expectation, and the "
        "evolution's steps"),
    "08_single_path_nas": (
        ["On this CPU, skipping a layer was the only big saving in the table. How did that shape "
         "what the lambdas found (`latency_saved_pct_paper`, `latency_saved_pct`)?",
         "In the LatencyPanel, which kernel norms crossed their thresholds, and when? Relate it "
         "to $\\sigma'$ vanishing far from a threshold.",
         "Where do the found networks (`found_truth_acc`) sit in the scatter of all 125: on the "
         "upper-left edge or inside?",
         "`found_latency_error_pct` compares predicted and measured latency. What makes them "
         "differ, and why does $\\lambda \\log R$ barely care?"],
        ["The superkernel turns a choice into a threshold on a weight norm. What does that "
         "assume about a kernel's norm and its use?",
         "One superkernel per layer against ProxylessNAS's separate paths: what is shared, and "
         "what does each search cost?"],
        "the superkernel, the indicator $\\mathbb{1}[\\lVert w\\rVert - t \\ge 0]$ with its "
        "sigmoid gradient, and the runtime model"),
    "09_fairnas": (
        ["Compare SPOS's and FairNAS's fairness gaps at equal compute. Does SPOS's gap fit "
         "$\\sqrt{t}$?",
         "`kendall_tau_fairnas` against SPOS's tau: is the difference larger than a change of "
         "seed would make? How would you find out?",
         "SPOS got $m$ times as many steps as FairNAS. Is that the fair comparison? What changes "
         "with the same number of steps?",
         "FairNAS accumulates $m$ gradients before one optimiser step. How does that differ from "
         "$m$ SPOS steps in what each candidate's weights see?"],
        ["Does strict fairness remove the bias of weight sharing, or only that of unequal "
         "training counts?",
         "FairNAS reports tau = 0.95 on 13 models. How many models would it take to tell 0.95 "
         "from 0.8?"],
        "strict fairness: the permutations, what each candidate gets per step, and the gradient "
        "accumulation"),
    "10_compare": (
        ["`ceiling_tau_nb201` is what one stand-alone run achieves against the others. Which "
         "method came closest to it? What would a tau above the ceiling mean?",
         "`random_standalone_truth` is random search without weight sharing in the same time. "
         "How many methods beat it on truth, and by more than the table's noise?",
         "Compare `synflow_rho_nb201` with the published rho. Why might these cells and this "
         "task disagree with NAS-Bench-201 on CIFAR-10?",
         "Some methods return one architecture and no ranking. How would you compare them "
         "fairly with the ranking methods?"],
        ["Yang et al. call NAS evaluation frustratingly hard. What would a fair comparison need "
         "that this notebook lacks (seeds, budgets, retraining)?",
         "Zero-cost proxies train nothing. In which workflow would you use one, and for which "
         "decision would you never trust one?"],
        "Kendall's tau-b and its ceiling, Spearman's rho, and synflow's closed form"),
    "11_after_darts": (
        ["Rank the five methods of the race by seconds per step and by memory. Which design "
         "choice (one sampled op, partial channels, a proximal step) explains each?",
         "`nasp_speedup_per_step` against the paper's \"more than 10x\": what in this cell "
         "limits the saving?",
         "`darts_free_share`, `darts_minus_free_share` and `darts_es_free_share` are means over "
         "three seeds: is any difference larger than the spread between seeds? What would you "
         "run to tell?",
         "In the alpha views, which method committed to a genotype first? Relate it to the "
         "temperature (GDAS, SNAS) or to the proximal step (NASP)."],
        ["Which change to DARTS matters most on this cell, and would the answer carry over to "
         "the DARTS space on CIFAR-10?",
         "GDAS' straight-through gradient is biased; SNAS' soft sample is not one-hot. Which bias "
         "would you rather have?"],
        "straight-through Gumbel-softmax (GDAS), SNAS' relaxation, PC-DARTS' partial channels, "
        "NASP's proximal step and DARTS-' auxiliary skip"),
}


def wrap(text: str, first: str = "", indent: str = "") -> str:
    """Markdown wrapped at 100 columns like the notebooks' own cells; a continuation line never
    starts like a list item, so a break cannot open a nested list."""
    out = textwrap.fill(text, 100, initial_indent=first, subsequent_indent=indent,
                        break_long_words=False, break_on_hyphens=False)
    assert not any(re.match(r"\s*([-+*]|\d+\.)\s", line) for line in out.split("\n")[1:]), out
    return out


def cell_source(stem: str) -> str:
    questions, discussion, derivations = QUESTIONS[stem]
    lines = [TITLE, "",
             wrap("Answer from what *this* run showed: the views above and the numbers it "
                  "printed (runs differ; say which run you read)."), ""]
    lines += [wrap(q, f"{i}. ", "   ") for i, q in enumerate(questions, 1)]
    lines += ["", "**For a reading group** (discussion; no single answer):", ""]
    lines += [wrap(q, "- ", "  ") for q in discussion]
    lines += ["", wrap(f"**Paper guide:** [docs/guides/{stem}.md](../docs/guides/{stem}.md), the "
                       f"derivations this notebook skips: {derivations}; with the exact place in "
                       "the official code and in `nasbench`.")]
    return "\n".join(lines)


def as_source_lines(text: str) -> list[str]:
    """Jupyter's on-disk form: one string per line, each but the last ending in a newline."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def apply(path: Path) -> bool:
    """Put the cell at the end of the notebook at `path`; True if the file changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cell = {"cell_type": "markdown", "id": CELL_ID, "metadata": {},
            "source": as_source_lines(cell_source(path.stem))}
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != CELL_ID] + [cell]
    new = json.dumps(nb, indent=1, ensure_ascii=False) + ("\n" if text.endswith("\n") else "")
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = []
    for stem in QUESTIONS:
        path = ROOT / "notebooks" / f"{stem}.ipynb"
        if args.check:
            nb = json.loads(path.read_text(encoding="utf-8"))
            last = nb["cells"][-1] if nb["cells"] else {}
            if last.get("id") != CELL_ID or "".join(last["source"]) != cell_source(stem):
                stale.append(path.name)
        elif apply(path):
            print(f"{path.name}: closing questions written")
    if stale:
        print("closing questions missing or stale in: " + ", ".join(stale)
              + " (run python tools/closing_questions.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
