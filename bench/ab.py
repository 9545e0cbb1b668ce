"""Two trees side by side: every end-to-end figure of docs/performance.md, before and after.

    .venv/bin/python bench/ab.py --before ca389e1 --after HEAD [--repeat 3] [--only NAME,...]
        [--quick] [--out bench/results/ab.json] [--doc FILE.md]

Each ref is exported (`git archive`, the repository itself untouched) into its own folder,
/tmp/dsim-ab/<sha>, reused when present; what is measured is the *committed* tree: uncommitted
changes in the working tree are not. Every benchmark in `bench/ab_benchmarks.py` then runs from
that tree's own bench/ script with that tree's own code (`PYTHONPATH=<tree>`, `cwd=<tree>`, this
interpreter, so both trees share the venv's third-party packages). The venv's editable install
points at the working tree, so the run proves where the code came from: a `sitecustomize`
probe on PYTHONPATH logs, in every Python process a benchmark starts (the `deploysim` console
script, `mitmdump`, `python -m ...` children), the file each of deploysim's packages was
imported from; the table says whether all of them came from the tree.

Runs alternate before/after, ABBA across repeats (A B, then B A, ...), every benchmark once per
repeat, so a noisy machine weighs on both trees alike. Each script's own JSON goes to a temporary
folder (scripts that always write bench/results/NAME.json write it inside the exported copy; it
is moved out after the run), never to the working tree's bench/results. The table gives medians,
after/before, whether each figure holds within 10% (yes, no, or better), and the runs' spread;
--out gets every raw run (written after each one), --doc the Markdown. Sizes: "full" (about 30
minutes for both trees at --repeat 3 on 2 quiet cores) or --quick (a smoke test, one run of
each tree unless --repeat says otherwise, ~3 minutes).
The calibration world and the demo are not part of it: they are not speed figures.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ab_benchmarks import BENCHMARKS, Benchmark, Figure  # noqa: E402

REPO = HERE.parent
TREES = Path("/tmp/dsim-ab")
PACKAGES = ("deploysim", "recorder", "stubs", "proxy", "replayer", "grader")

# Imported by every Python process started with the probe's folder on PYTHONPATH: logs where
# each of deploysim's top-level packages really comes from (the editable install would
# otherwise quietly serve the working tree for a package the tree lacks).
PROBE = f'''"""bench/ab.py's probe: where deploysim's packages are imported from."""
import json, os, sys

_TOP = {set(PACKAGES)!r}


class _Probe:
    def find_spec(self, name, path=None, target=None):
        if name not in _TOP:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                origin = spec.origin or ",".join(spec.submodule_search_locations or [])
                line = json.dumps({{"pid": os.getpid(), "argv": sys.orig_argv,
                                   "module": name, "origin": origin}}) + "\\n"
                fd = os.open(os.environ["DSIM_AB_PROBE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
                return spec
        return None


if os.environ.get("DSIM_AB_PROBE"):
    sys.meta_path.insert(0, _Probe())
'''


class AbError(Exception):
    """A usage or setup problem: printed as one line, exit 2."""


@dataclass(frozen=True)
class Tree:
    label: str
    """"before" or "after"."""
    ref: str
    sha: str
    root: Path


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AbError(f"`git {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def export(label: str, ref: str) -> Tree:
    """The committed tree of `ref` in /tmp/dsim-ab/<sha> (reused when already complete), or
    `ref` itself when it is a folder holding a tree (a copy of uncommitted work, measured as is)."""
    if Path(ref).is_dir():
        if not (Path(ref) / "recorder").is_dir():
            raise AbError(f"--{label} {ref!r} is a folder but not a deploysim tree; give a commit "
                          "or a folder with recorder/, bench/ and the other packages")
        root = Path(ref).resolve()
        # a stand-in for the sha, unique per folder (names the run's scratch space)
        return Tree(label, ref, "dir" + hashlib.sha1(str(root).encode()).hexdigest()[:9], root)
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                           f"{ref}^{{commit}}"], capture_output=True, text=True)
    sha = done.stdout.strip() if ref and done.returncode == 0 else ""
    if not sha:
        raise AbError(f"--{label} {ref!r} is not a commit of {REPO}; give a sha, tag or branch")
    root = TREES / sha[:12]
    if not (root / ".ab-complete").exists():
        partial = TREES / f"{sha[:12]}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.Popen(["git", "-C", str(REPO), "archive", "--format=tar", sha],
                                   stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(partial)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise AbError(f"`git archive {sha}` failed")
        # byte-compile now so the first timed run of either tree does not pay for it
        code = [str(partial / p) for p in (*PACKAGES, "bench") if (partial / p).exists()]
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *code],
                       check=False, stdout=subprocess.DEVNULL)
        (partial / ".ab-complete").write_text(sha + "\n")
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    return Tree(label, ref, sha, root)


def script_of(bench: Benchmark, tree: Tree, other: Tree) -> tuple[Path | None, str]:
    """The script to run for `tree`, and a note when it is not the tree's own."""
    own = tree.root / bench.script
    if own.exists():
        return own, ""
    if bench.borrow_script and (other.root / bench.script).exists():
        return other.root / bench.script, (f"the {tree.label} tree has no {bench.script}: "
                                           f"the {other.label} tree's copy drives its code")
    return None, f"cannot run in the {tree.label} tree: it has no {bench.script}"


def provenance(log: Path, tree: Tree, script: Path) -> dict[str, Any]:
    """Which processes imported deploysim's packages, and whether from the tree. A borrowed
    script's own process (the harness) is expected to import from the tree it belongs to."""
    procs: dict[int, dict[str, Any]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            p = procs.setdefault(entry["pid"], {"argv": entry["argv"], "modules": {}})
            p["modules"][entry["module"]] = entry["origin"]
    prefix = str(tree.root) + os.sep
    harness = not script.is_relative_to(tree.root)
    foreign = []
    for p in procs.values():
        outside = {m: o for m, o in p["modules"].items() if not o.startswith(prefix)}
        is_harness = harness and str(script) in p["argv"]
        if outside and not is_harness:
            foreign.append({"argv": p["argv"], "modules": outside})
    return {"processes": len(procs), "foreign": foreign,
            "commands": sorted({" ".join(Path(a).name for a in p["argv"][:3])[:60]
                                .replace("\n", " ") for p in procs.values()})}


def run_one(bench: Benchmark, tree: Tree, other: Tree, size: str, work: Path,
            index: int, timeout: float) -> dict[str, Any]:
    """One run of one benchmark on one tree: its figures, its raw JSON and where its code came
    from."""
    script, note = script_of(bench, tree, other)
    record: dict[str, Any] = {"benchmark": bench.name, "tree": tree.label, "sha": tree.sha,
                              "repeat": index, "note": note, "figures": {}}
    if script is None:
        record["error"] = note
        return record
    folder = work / f"{index:02d}-{bench.name}-{tree.label}"
    folder.mkdir(parents=True)
    out = folder / "result.json"
    scratch = TREES / f"{tree.sha[:12]}-scratch" / bench.name
    scratch.mkdir(parents=True, exist_ok=True)
    args = [a.replace("{out}", str(out)).replace("{scratch}", str(scratch))
            for a in bench.args[size]]
    if bench.args_for is not None:
        args = bench.args_for(tree.root, args)
    written = tree.root / bench.results if bench.results else out
    if bench.results:
        written.unlink(missing_ok=True)  # the exported copy's: a script may merge the old one
    probe_log = folder / "probe.jsonl"
    env = {**os.environ, "PYTHONPATH": f"{tree.root}{os.pathsep}{work / 'probe'}",
           "DSIM_AB_PROBE": str(probe_log)}
    argv = [sys.executable, str(script), *args]
    record.update({"argv": argv, "cwd": str(tree.root), "load_before": os.getloadavg()[0]})
    t0 = time.monotonic()
    with open(folder / "stdout.txt", "w") as so, open(folder / "stderr.txt", "w") as se:
        # its own process group, so a timeout or Ctrl-C also ends the servers it started
        proc = subprocess.Popen(argv, cwd=tree.root, env=env, stdout=so, stderr=se,
                                start_new_session=True)
        try:
            record["returncode"] = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            record["returncode"] = None
            record["error"] = f"timed out after {timeout:.0f} s"
        finally:
            end_group(proc)
    record["wall_s"] = round(time.monotonic() - t0, 1)
    record["load_after"] = os.getloadavg()[0]
    record["provenance"] = provenance(probe_log, tree, script)
    if record["returncode"] != 0 and "error" not in record:
        tail = [ln for ln in (folder / "stderr.txt").read_text().splitlines() if ln.strip()]
        record["error"] = f"exit {record['returncode']}: {tail[-1] if tail else 'no stderr'}"
    if written.exists():
        if written != out:
            shutil.move(written, out)
        doc = json.loads(out.read_text())
        record["result"] = doc
        record["figures"] = {f.label: f.extract(doc) for f in bench.figures}
    elif "error" not in record:
        record["error"] = f"the script wrote no {written.name}"
    return record


def end_group(proc: subprocess.Popen[bytes]) -> None:
    """End what is left of a benchmark's process group: nothing after a clean run, its
    servers after a timeout or Ctrl-C."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return  # the group is empty
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        time.sleep(0.5)


def verdict(fig: Figure, ratio: float) -> str:
    """After within 10% of before ("yes"), worse by more ("no") or better by more ("better")."""
    worse, better = (ratio < 0.9, ratio > 1.1) if fig.higher_is_better else \
        (ratio > 1.1, ratio < 0.9)
    return "no" if worse else "better" if better else "yes"


def fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.3g}"


def summarize(runs: list[dict[str, Any]], benches: list[Benchmark]) -> list[dict[str, Any]]:
    rows = []
    for bench in benches:
        mine = [r for r in runs if r["benchmark"] == bench.name]
        notes = sorted({r["note"] for r in mine if r["note"]}
                       | {f"{r['tree']}: {r['error']}" for r in mine if r.get("error")}
                       | {f"{r['tree']}: code NOT from the tree: {r['provenance']['foreign']}"
                          for r in mine if r.get("provenance", {}).get("foreign")})
        for fig in bench.figures:
            values: dict[str, list[float]] = {}
            for side in ("before", "after"):
                values[side] = [v for r in mine if r["tree"] == side
                                and (v := r["figures"].get(fig.label)) is not None]
            med = {s: statistics.median(v) if v else None for s, v in values.items()}
            b, a = med["before"], med["after"]
            ratio = a / b if a is not None and b else None
            rows.append({"benchmark": bench.name, "figure": fig.label, "unit": fig.unit,
                         "before": b, "after": a, "ratio": ratio,
                         "higher_is_better": fig.higher_is_better,
                         "within_10pct": verdict(fig, ratio) if ratio is not None else "n/a",
                         "runs": values, "note": "; ".join(filter(None, [fig.note, *notes]))})
    return rows


def markdown(doc: dict[str, Any]) -> str:
    t = doc["trees"]
    lines = [f"`bench/ab.py` ({doc['size']} sizes, {doc['repeat']} run(s) of each tree, "
             f"alternating): before = `{t['before']['ref']}` ({t['before']['sha'][:9]}), after = "
             f"`{t['after']['ref']}` ({t['after']['sha'][:9]}); committed trees only, "
             "uncommitted changes are not measured.",
             f"Started {doc['started']}, ended {doc['ended']} (UTC); load average (1, 5, 15 min) "
             f"before {doc['load_start']}, after {doc['load_end']}.", "",
             "| benchmark | figure | unit | before (median) | after (median) | after/before | "
             "better when | within 10% | spread: before; after | note |",
             "|---|---|---|---:|---:|---:|---|---|---|---|"]
    for r in doc["summary"]:
        spread = "; ".join(f"{fmt(min(v))}–{fmt(max(v))} ({len(v)})" if v else "—"
                           for v in (r["runs"]["before"], r["runs"]["after"]))
        ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else "—"
        lines.append(f"| {r['benchmark']} | {r['figure']} | {r['unit']} | {fmt(r['before'])} | "
                     f"{fmt(r['after'])} | {ratio} | "
                     f"{'higher' if r['higher_is_better'] else 'lower'} | {r['within_10pct']} | "
                     f"{spread} | {r['note'].replace('|', '/')} |")
    lines += ["", "Commands (in each tree, `PYTHONPATH` and `cwd` = the tree; `{out}`: the run's "
              "JSON in a temporary folder, `{scratch}`: a folder per tree kept between runs):",
              ""]
    lines += [f"- `{name}`: `{' '.join(args)}`" for name, args in doc["sizes"].items()]
    lines += ["", "Where the code came from (processes that imported deploysim's packages, "
              "per benchmark and tree, over all runs):", ""]
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in doc["runs"]:
        if "provenance" in r:
            seen.setdefault((r["benchmark"], r["tree"]), []).append(r)
    for (bench, side), runs in seen.items():
        foreign = sum(len(r["provenance"]["foreign"]) for r in runs)
        state = "all from the tree" if not foreign else \
            f"{foreign} NOT from the tree (see the JSON)"
        walls = ", ".join(f"{r['wall_s']:.0f}" for r in runs)
        lines.append(f"- {bench}, {side}: {sum(r['provenance']['processes'] for r in runs)} "
                     f"processes in {len(runs)} run(s), {state}; wall s {walls}")
    return "\n".join(lines) + "\n"


def utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--before", required=True,
                    help="git ref of the tree before, or a folder holding a tree")
    ap.add_argument("--after", default="HEAD",
                    help="git ref of the tree after (default HEAD), or a folder holding a tree")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs of each benchmark on each tree (default 3; 1 with --quick)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names: "
                    + ", ".join(b.name for b in BENCHMARKS))
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test (~3 min)")
    ap.add_argument("--out", default=str(HERE / "results" / "ab.json"),
                    help="every raw run as JSON (default bench/results/ab.json)")
    ap.add_argument("--doc", help="also write the Markdown table to this file")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - {b.name for b in BENCHMARKS})
    if unknown:
        raise AbError(f"--only: no benchmark named {', '.join(unknown)}; choose from "
                      + ", ".join(b.name for b in BENCHMARKS))
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        raise AbError("--repeat must be at least 1")
    benches = [b for b in BENCHMARKS if not names or b.name in names]
    size = "quick" if args.quick else "full"
    before, after = export("before", args.before), export("after", args.after)
    if git("status", "--porcelain", "--untracked-files=no"):
        print(f"note: {REPO} has uncommitted changes; they are not measured (only the "
              f"committed trees {before.sha[:9]} and {after.sha[:9]} are)", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="dsim-ab-run-"))
    (work / "probe").mkdir()
    (work / "probe" / "sitecustomize.py").write_text(PROBE)
    timeout = 300.0 if args.quick else 1800.0
    doc: dict[str, Any] = {
        "tool": "bench/ab.py", "command": " ".join(sys.argv), "size": size,
        "repeat": args.repeat, "started": utc(), "ended": None,
        "load_start": [round(x, 2) for x in os.getloadavg()], "load_end": None,
        "trees": {t.label: {"ref": t.ref, "sha": t.sha, "dir": str(t.root)}
                  for t in (before, after)},
        "sizes": {b.name: [b.script, *b.args[size]] for b in benches}, "work": str(work),
        "runs": [], "summary": []}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"before {before.sha[:9]} in {before.root}, after {after.sha[:9]} in {after.root}; "
          f"raw output in {work}", file=sys.stderr)
    try:
        for index in range(args.repeat):
            order = (before, after) if index % 2 == 0 else (after, before)
            for bench in benches:
                for tree in order:
                    other = after if tree is before else before
                    run = run_one(bench, tree, other, size, work, index, timeout)
                    doc["runs"].append(run)
                    shown = ", ".join(f"{k} {fmt(v)}" for k, v in run["figures"].items())
                    print(f"[{utc()}] {index + 1}/{args.repeat} {bench.name} {tree.label}: "
                          f"{run.get('wall_s', 0)} s; {run.get('error') or shown}",
                          file=sys.stderr, flush=True)
                    out.write_text(json.dumps(doc, indent=1) + "\n")
    finally:
        doc["ended"] = utc()
        doc["load_end"] = [round(x, 2) for x in os.getloadavg()]
        doc["summary"] = summarize(doc["runs"], benches)
        out.write_text(json.dumps(doc, indent=1) + "\n")
    table = markdown(doc)
    print(table)
    if args.doc:
        Path(args.doc).write_text(table)
    print(f"wrote {out}" + (f" and {args.doc}" if args.doc else ""), file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except AbError as e:
        print(f"bench/ab.py: error: {e}", file=sys.stderr)
        sys.exit(2)
