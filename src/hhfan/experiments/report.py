"""``hhfan report``: every finished experiment on one Markdown page (``docs/RESULTS.md``).

Finds the experiments under the given folders (each ``--out`` of ``hhfan experiment``: ``DIR/<name>/<name>.json``,
one level deeper too, or an experiment folder itself), and writes for each set (one ``--out``, i.e. one
dataset): per experiment the command that produced it, its date, machine and compute, its Markdown
table(s), its pictures (copied into ``<page>-figures/`` beside the page) and, where the paper has numbers
or claims, a factual comparison generated from the JSON: ratios ours / paper, the ranks of the paper's
model among ours, the ceiling that our split's test positives put on P@10 and R@10, the dataset sizes, and
the protocol differences (:data:`hhfan.experiments.paper.PROTOCOL_NOTES`). Each such comparison is followed
by the commentary people wrote (below); nothing in the page is a number that is not in the JSON, the paper or
that commentary.

Commentary is written by people, in files the report reads and never writes: ``<page>-commentary/<set>/<name>.md``
beside the page (``docs/RESULTS-commentary/ml-1m/tables.md``; ``<set>`` is the dataset's name as the page's
figure folder spells it). Where such a file exists its text stands under the experiment's comparison (or under
its tables, for an experiment without one); where it does not, the slot says which file to write. So the
commentary survives every regeneration of the page.

The page and its figure folder go through the output guard: an existing page or figure folder is replaced
only with ``overwrite`` (and the folder only when hhfan wrote it), never an input.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hhfan.data.atomic import atomic_dir, atomic_file
from hhfan.data.outputs import check_file_output
from hhfan.experiments import EXPERIMENTS
from hhfan.experiments.common import LABEL, SHOWN
from hhfan.experiments.paper import CHOSEN, PAPER_SIZES, PROTOCOL_NOTES, TABLE_OF_RATE
from hhfan.model.registry import display_name

FIGURES_KIND = "report-figures"
"""Marker kind of the report's figure folder."""

AGREE = (0.9, 1.1)
"""A ratio ours / paper inside this range is reported as agreeing, outside as a disagreement."""

SLOT = ("> **Commentary** (to be written by a person; not generated): what we think causes the differences "
        "above.")
"""The line that stands where a comparison's commentary file (see the module docstring) does not exist yet."""


def find(roots: Sequence[Path]) -> list[Path]:
    """The experiment JSON files under ``roots`` (``ROOT/<name>/<name>.json``, one level deeper, or ROOT itself)."""
    found: list[Path] = []
    for root in map(Path, roots):
        for name in EXPERIMENTS:
            for cand in (root / f"{name}.json", root / name / f"{name}.json", *root.glob(f"*/{name}/{name}.json")):
                if cand.is_file() and cand not in found:
                    found.append(cand)
    return found


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    if not isinstance(doc, dict) or doc.get("experiment") not in EXPERIMENTS:
        raise ValueError(f"{path}: not an experiment written by `hhfan experiment`")
    return doc


def _demote(markdown: str, levels: int = 3) -> str:
    """The experiment's own Markdown with its headings ``levels`` deeper and its provenance comment dropped."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("<!-- produced by:"):
            continue
        out.append("#" * levels + line if re.match(r"^#+ ", line) else line)
    return "\n".join(out).strip() + "\n"


def _machine(m: dict[str, Any]) -> str:
    return (f"{m.get('cpu_count')} CPUs ({m.get('cpus_usable')} usable), torch {m.get('torch')} with "
            f"{m.get('torch_threads')} threads, accelerator: {m.get('cuda') or 'none'}; {m.get('platform')}")


def _compute(c: dict[str, Any]) -> str:
    by = c.get("by_device", {})
    parts = [f"{by[k] / 60:.1f} {k.upper()} minutes" for k in ("cpu", "gpu") if by.get(k)]
    text = (", ".join(parts) or "no training") + f" over {c.get('runs', 0)} runs"
    if c.get("runs"):
        text += f" ({c.get('trained_now', 0)} trained by the last call, the rest reused)"
    if "source_runs_seconds" in c:
        text += f"; it reads runs that took {c['source_runs_seconds'] / 60:.1f} minutes to train"
    return text


def _rank(per: dict[str, Any], model: str, proto: str, metric: str) -> tuple[int, int] | None:
    vals = {m: v[proto][metric]["mean"] for m, v in per.items() if metric in v.get(proto, {})}
    if model not in vals:
        return None
    return 1 + sum(v > vals[model] for v in vals.values()), len(vals)


def tables_facts(doc: dict[str, Any]) -> list[str]:
    """The factual comparison of a ``tables`` experiment with Tables II–IV (ratios, ranks, ceilings, sizes)."""
    pd = doc["dataset"].get("paper_dataset")
    ds = doc["dataset"]
    lines: list[str] = []
    if not pd:
        return [f"The dataset {ds['name']} has no counterpart in the paper, so there is nothing to compare with.", ""]
    ps = PAPER_SIZES[pd]
    lines += [f"Dataset: ours {ds['users']:,} users × {ds['videos']:,} videos, {ds['interactions']:,} interactions; "
              f"the paper's {pd} (Table I) {ps['users']:,} × {ps['videos']:,}, {ps['interactions']:,} "
              f"(ours / paper: users {ds['users'] / ps['users']:.2f}, videos {ds['videos'] / ps['videos']:.2f}, "
              f"interactions {ds['interactions'] / ps['interactions']:.2f}).", ""]
    for rate, per in doc["results"].items():
        table = TABLE_OF_RATE.get(float(rate), "?")
        rows = [(m, v) for m, v in per.items() if v.get("paper")]
        lines += [f"Training rate {rate} against Table {table}: ours / paper (sampled protocol; agreement = within "
                  f"{AGREE[0]:.1f}–{AGREE[1]:.1f}).", ""]
        if rows:
            head = ["model", *(LABEL[n] for n in SHOWN["sampled"]), "disagreements"]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for m, v in rows:
                cells, bad = [], []
                for n in SHOWN["sampled"]:
                    ours, paper = v["sampled"].get(n, {}).get("mean"), v["paper"].get(n)
                    if ours is None or not paper:
                        cells.append("—")
                        continue
                    ratio = ours / paper
                    cells.append(f"{ratio:.2f}")
                    if not AGREE[0] <= ratio <= AGREE[1]:
                        bad.append(LABEL[n])
                lines.append(f"| {display_name(m)} | " + " | ".join(cells) + f" | {', '.join(bad) or 'none'} |")
            lines.append("")
        if "hhfan" in per:
            ranks = [f"{LABEL[n]} {r[0]} of {r[1]}" for n in SHOWN["sampled"]
                     if (r := _rank(per, "hhfan", "sampled", n)) is not None]
            full = [f"full {LABEL[n]} {r[0]} of {r[1]}" for n in SHOWN["full"]
                    if (r := _rank(per, "hhfan", "full", n)) is not None]
            lines.append(f"- The paper's model (hhfan) ranks among our models: {', '.join(ranks + full)} (the paper "
                         f"prints HHFAN first in every column of Table {table}).")
        c = doc.get("ceilings", {}).get(rate)
        paper_p = per.get("hhfan", {}).get("paper") or {}
        if c:
            text = (f"- Our split has {c['test_positives_mean']:.1f} test positives per user on average (median "
                    f"{c['test_positives_median']:.0f}): a perfect ranking scores P@10 {c['precision@10_ceiling']:.4f} "
                    f"and R@10 {c['recall@10_ceiling']:.4f}")
            if paper_p.get("precision@10") and paper_p["precision@10"] > c["precision@10_ceiling"]:
                text += (f"; the paper's HHFAN P@10 {paper_p['precision@10']:.4f} exceeds that ceiling: with our "
                         "definition of P@10 its test lists must hold more positives per user than ours (or its "
                         "P@10 is defined otherwise)")
            lines.append(text + ".")
        lines.append("")
    notes = doc.get("protocol_notes", PROTOCOL_NOTES)
    lines += [f"The {len(notes)} protocol and setting differences listed under the tables above apply to every "
              "figure here.", ""]
    return lines


def ablation_facts(doc: dict[str, Any]) -> list[str]:
    """Whether each ablation is below the full model, as the paper finds "in all cases" (§IV-E)."""
    lines = ["The paper finds the full HHFAN above HHFAN-l, -a and -n in every case (§IV-E, Fig. 3–5). Ours, by "
             "sampled NDCG@10 and AUC (means over seeds):", ""]
    for model, fam in doc["results"].items():
        names = list(fam)
        full = fam[names[0]]
        for rate in full["rates"]:
            below: list[str] = []
            above: list[str] = []
            for name in names[1:]:
                r = fam[name]["rates"][rate]
                for n in ("ndcg@10", "auc"):
                    a, b = r["sampled"].get(n, {}).get("mean"), full["rates"][rate]["sampled"].get(n, {}).get("mean")
                    if a is None or b is None:
                        continue
                    (below if a < b else above).append(f"{name} {LABEL[n]} {a:.4f} vs {b:.4f}")
            lines.append(f"- {display_name(model)}, rate {rate}: below the full model: {', '.join(below) or 'none'}; "
                         f"not below (disagrees with the paper): {', '.join(above) or 'none'}.")
    return [*lines, ""]


def sensitivity_facts(doc: dict[str, Any]) -> list[str]:
    """Our best value of each parameter against the paper's choice (depth 6, d 250, 35 neighbours)."""
    lines = ["The paper settles on depth 6, d = 250 and 35 neighbours (§IV-F). Our best value of each "
             "(by mean sampled AUC and NDCG@10):", ""]
    for model, per in doc["results"].items():
        for p, vals in per.items():
            best = []
            for n in ("auc", "ndcg@10"):
                scored = [(r["sampled"][n]["mean"], v) for v, r in vals.items() if n in r["sampled"]]
                if scored:
                    best.append(f"{LABEL[n]} at {max(scored)[1]}")
            lines.append(f"- {display_name(model)}, {p}: best {', '.join(best)} (paper's choice {CHOSEN[p]}).")
    return [*lines, ""]


FACTS = {"tables": tables_facts, "ablation": ablation_facts, "sensitivity": sensitivity_facts}


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "set"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def commentary_dir(page: Path) -> Path:
    """Where the people's commentary of ``page`` lives: ``<page stem>-commentary/`` beside it."""
    return page.with_name(page.stem + "-commentary")


def commentary(cdir: Path, slug: str, name: str, slot: bool) -> list[str]:
    """The lines of ``cdir/<slug>/<name>.md`` under a heading, or (``slot``) the slot naming that file, or none."""
    path = cdir / slug / f"{name}.md"
    if path.is_file():
        return ["#### Commentary", "", f"_Written by a person (`{cdir.name}/{slug}/{name}.md`), "
                "not generated._", "", path.read_text().strip(), ""]
    if not slot:
        return []
    return [f"{SLOT} None yet: write it in `{cdir.name}/{slug}/{name}.md` beside this page and rerun "
            "`hhfan report`.", ""]


def assemble(roots: Sequence[Path], out: Path, overwrite: bool = False, command: str = "") -> dict[str, Any]:
    """Write the results page ``out`` and its figure folder; return ``{"page", "figures", "experiments"}``.

    Commentary comes from the files under :func:`commentary_dir` (see the module docstring).
    """
    out = Path(out)
    roots = [Path(r) for r in roots]
    cdir = commentary_dir(out)
    check_file_output(out, overwrite, inputs=roots, option="--out")
    paths = find(roots)
    if not paths:
        raise ValueError(f"no finished experiment under {', '.join(map(str, roots))} (looked for <name>/<name>.json "
                         f"with name one of {', '.join(EXPERIMENTS)}); run `hhfan experiment ...` first")
    docs = [(p, _load(p)) for p in paths]
    sets: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for p, d in docs:
        sets.setdefault(d.get("out") or str(p.parent.parent), []).append((p, d))
    figdir = out.with_name(out.stem + "-figures")
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = ["# Results", "", f"Generated by `{command or 'hhfan report'}` on {now} from "
             f"{len(docs)} finished experiment(s). Every number below is read from the experiments' JSON files or "
             "printed in the paper (Cai et al., IEEE TMM 2022), except the commentary, which people write in "
             f"`{cdir.name}/`.", ""]
    copies: list[tuple[Path, str]] = []
    taken: set[str] = set()
    body: list[str] = []
    summary = ["| set | experiment | compute | machine | date |", "|---|---|---|---|---|"]
    for key, items in sets.items():
        items.sort(key=lambda x: EXPERIMENTS.index(x[1]["experiment"]))
        ds = items[0][1]["dataset"]
        slug = _slug(f"{ds['name']}", taken)
        body += [f"## {ds['name']}" + (" (synthetic)" if ds.get("synthetic") else ""), "",
                 f"Experiments folder: `{key}`; dataset `{ds['path']}`: {ds['users']:,} users, {ds['videos']:,} "
                 f"videos, {ds['interactions']:,} interactions.", ""]
        for path, d in items:
            name = d["experiment"]
            summary.append(f"| {slug} | {name} | {_compute(d['compute'])} | {d['machine'].get('cpu_count')} CPUs, "
                           f"{d['machine'].get('cuda') or 'no accelerator'} | {d['created']} |")
            body += [f"### {name}", "", f"- Command: `{d['command']}`", f"- Date: {d['created']}",
                     f"- Machine: {_machine(d['machine'])}", f"- Compute: {_compute(d['compute'])}", ""]
            md = path.parent / d.get("files", {}).get("markdown", f"{name}.md")
            if md.is_file():
                body.append(_demote(md.read_text()))
            for png in d.get("files", {}).get("plots", []):
                src = path.parent / png
                if src.is_file():
                    rel = f"{slug}/{name}_{png}" if not png.startswith(name.replace("-", "_")) else f"{slug}/{png}"
                    copies.append((src, rel))
                    body += [f"![{name}: {png}]({figdir.name}/{rel})", ""]
            if name in FACTS:
                body += ["#### Comparison with the paper", "", *FACTS[name](d)]
            body += commentary(cdir, slug, name, slot=name in FACTS)
    lines += ["## Compute and machines", "", *summary, ""]
    with atomic_dir(figdir, FIGURES_KIND, overwrite=overwrite, inputs=roots) as tmp:
        for src, rel in copies:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / rel)
        with atomic_file(out) as page:
            page.write_text("\n".join(lines + body).rstrip() + "\n")
    return {"page": str(out), "figures": [str(figdir / r) for _, r in copies],
            "experiments": [str(p) for p, _ in docs]}
