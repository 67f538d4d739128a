"""Samoe at two commits side by side, with the Python echo beside them, in one run.

    python bench/ab.py --before e5ceac4 [--after WORKTREE_OR_HEAD] [--db sqlite|postgresql]
                       [--rounds 3] [--duration 5]

bench/run.py compares Samoe with the echoes; a change to Samoe is best judged against the
commit before it in the same run, since the machine's speed moves between runs (the Python
echo's closed-loop rate moved 228-560 req/s on one day). The `--before` commit is checked out
in a temporary git worktree (removed at the end); `--after` is this tree unless named. Both
run as bench/run.py runs Samoe (gunicorn -w 2 gthread, 2 `flask worker` processes, a fresh
database each, replying through one standalone emulator), and so does the Python echo; their
closed-loop rounds are interleaved in a rotating order. For each round: acknowledgements a
second, events fully handled a second (the backlog drained), CPU ms per event handled of the
system's own processes and of its web processes per acknowledgement, and the emulator's CPU
per event; then the median of each.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import run as R  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a commit (checked out in a worktree)")
    parser.add_argument("--after", default=None,
                        help="another commit (default: this tree as it is)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()

    settings = R.parse_args(["--db", args.db])
    settings.duration = args.duration
    R.prepare(settings)
    procs = R.Processes()
    trees = Path(tempfile.mkdtemp(prefix="samoe-ab-"))
    emudir = Path(tempfile.mkdtemp(prefix="samoe-ab-emu-",
                                   dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    roots = {}
    for label, commit in (("before", args.before), ("after", args.after)):
        if commit is None:
            roots[label] = R.ROOT
        else:
            roots[label] = trees / label
            subprocess.run(["git", "worktree", "add", "--detach", str(roots[label]), commit],
                           cwd=R.ROOT, check=True, capture_output=True)
    variants: list[R.Samoe] = []
    emulator = None
    try:
        emulator = R.Emulator(procs, settings, f"sqlite:///{emudir / 'emulator.db'}")
        systems = [R.start_python_echo(procs, settings, emulator.base, "python-echo")]
        for label, root in roots.items():
            workdir = Path(tempfile.mkdtemp(prefix=f"samoe-ab-{label}-"))
            variant = R.Samoe(procs, settings, args.db, emulator.base, workdir, label, root)
            variants.append(variant)
            systems.append(R.System(label, variant.port, samoe=variant))
        budget = R.budget_for(3000, args.duration + settings.warmup)
        for system in systems:  # warm-up, not counted
            R.one_phase(procs, emulator, settings, system, "closed", 1.0, budget)
        rows: dict[str, list[tuple]] = {system.name: [] for system in systems}
        for round_no in range(args.rounds):
            for system in R.rotated(systems, round_no):
                out = R.one_phase(procs, emulator, settings, system, "closed", args.duration,
                                  budget)
                h = out["handling"]
                rows[system.name].append((out["throughput_rps"], h["handled_per_s"],
                                          h["cpu_ms_per_event"], out["web_cpu_ms_per_ok"],
                                          h["emulator_cpu_ms_per_event"]))
    finally:
        for variant in variants:
            variant.stop()
        if emulator is not None:
            emulator.close()
        procs.stop_all()
        for root in roots.values():
            if root != R.ROOT:
                subprocess.run(["git", "worktree", "remove", "--force", str(root)],
                               cwd=R.ROOT, capture_output=True)
        shutil.rmtree(trees, ignore_errors=True)
        shutil.rmtree(emudir, ignore_errors=True)

    names = ("ack req/s", "handled/s", "CPU ms per event handled", "web CPU ms per ack",
             "emulator CPU ms per event")
    print(f"\n{args.db}, {args.rounds} rounds of {args.duration:g} s, before = {args.before}, "
          f"after = {args.after or 'this tree'}\n")
    print("| system | " + " | ".join(f"{n}: median (rounds)" for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for name, values in rows.items():
        cells = []
        for i in range(len(names)):
            column = [v[i] for v in values]
            if all(c is None for c in column):
                cells.append("–")
                continue
            shown = ", ".join("–" if c is None else f"{c:g}" for c in column)
            cells.append(f"{R.median(column)} ({shown})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
