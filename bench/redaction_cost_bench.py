"""What compiling a redaction matcher costs: time and peak memory, per set of secrets.

Each set is compiled in a fresh Python process, which reports the time the compile took and
its peak resident memory (peak RSS), beside the same figures for one short secret measured in
the same run (the baseline: what a Python process with the matcher's modules takes anyway).
The sets:

- ``100 tokens``: 100 URL-safe tokens of 32 characters, a project's usual secrets;
- ``40 x 60,000``: 2.4 MB of printable values, more than a kernel's environment holds;
- ``20 x 64 KiB control``: 20 values of the largest size, of control characters, whose
  escaped forms are up to six times as long (the worst case for the matcher's size).

``--root DIR`` measures the matcher of another checkout (to compare with an earlier one).

    python bench/redaction_cost_bench.py [--root DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, random, resource, string, sys, time
sys.path.insert(0, sys.argv[1])
from jupyterlab_secrets.redaction import Matcher

def values(kind):
    rng = random.Random(kind)
    if kind == "baseline":
        return {"one": "plain-token-1234"}
    if kind == "100 tokens":
        alphabet = string.ascii_letters + string.digits + "-_"
        return {f"token-{i:03d}": "".join(rng.choices(alphabet, k=32)) for i in range(100)}
    if kind == "40 x 60,000":
        alphabet = string.ascii_letters + string.digits + string.punctuation + " "
        return {f"big-{i:02d}": "".join(rng.choices(alphabet, k=60_000)) for i in range(40)}
    control = "".join(chr(code) for code in range(1, 32))
    return {f"ctl-{i:02d}": "".join(rng.choices(control, k=65_536)) for i in range(20)}

secrets = values(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
matcher = Matcher(secrets)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "seconds": elapsed,
    "peak_mb": peak / 1024,
    "before_mb": before / 1024,
    "pattern_mb": sum(map(len, matcher.patterns)) / 1e6,
    "size_mb": getattr(matcher, "size", 0) / 1e6,
}))
"""

SETS = ["baseline", "100 tokens", "40 x 60,000", "20 x 64 KiB control"]


def measure(root: Path, kind: str) -> dict[str, float]:
    """Compile one set in a fresh process; its figures."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), kind],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--repeat", type=int, default=3, help="runs per set; the best is shown")
    args = parser.parse_args()
    print(f"Matcher of {args.root}, best of {args.repeat} runs, each in a fresh process")
    print(
        f"{'secrets':<22}{'compile s':>10}{'peak RSS MB':>13}{'+ baseline':>12}"
        f"{'patterns MB':>13}{'size MB':>9}"
    )
    baseline_peak = 0.0
    for kind in SETS:
        runs = [measure(args.root, kind) for _ in range(args.repeat)]
        best = min(runs, key=lambda run: run["seconds"])
        peak = min(run["peak_mb"] for run in runs)
        if kind == "baseline":
            baseline_peak = peak
        print(
            f"{kind:<22}{best['seconds']:>10.3f}{peak:>13.0f}{peak - baseline_peak:>12.0f}"
            f"{best['pattern_mb']:>13.2f}{best['size_mb']:>9.1f}"
        )


if __name__ == "__main__":
    main()
