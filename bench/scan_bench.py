"""How long ``jupyter secrets scan`` takes on a repository of notebooks.

Makes a temporary Jupyter setup (its own data and config directories, a SQLite store holding
``--secrets`` secrets) and a tree of ``--notebooks`` notebooks, each with code and markdown
cells, stream output, a result and a PNG image of about 30 KB (base64 in the file); one in a
hundred holds a value. Then it times, by the clock, the best of ``--repeat`` runs of:

- ``scan``: ``jupyter secrets scan TREE``, as a pre-commit hook or CI job runs it;
- ``startup``: the same command on an empty folder (start, read the store, compile): the
  baseline of what any ``jupyter secrets`` command costs;
- ``grep``: ``grep -rlF`` of one value over the tree: the baseline of reading it once.

    python bench/scan_bench.py [--notebooks 1000] [--secrets 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def isolate(tmp: Path) -> dict[str, str]:
    """An environment whose Jupyter paths are temporary directories."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        path = tmp / name.lower()
        path.mkdir()
        env[name] = str(path)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env.pop("JUPYTERLAB_SECRETS_KEY", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jupyterlab_secrets", *args]


def make_notebooks(tree: Path, count: int, values: list[str], rng: random.Random) -> int:
    """Write the notebooks; how many hold a value."""
    import nbformat

    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(500)]
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(30_000)).decode()
    holding = 0
    for index in range(count):
        cells = []
        for number in range(6):
            source = "\n".join(
                f"{rng.choice(words)} = {rng.choice(words)}({rng.randint(0, 999)})"
                for _ in range(10)
            )
            if index % 100 == 7 and number == 3:
                source += f"\ntoken = {values[index % len(values)]!r}"
                holding += 1
            text = "\n".join(" ".join(rng.choices(words, k=12)) for _ in range(25))
            outputs = [
                nbformat.v4.new_output("stream", name="stdout", text=text),
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": repr(words[:20])}, execution_count=1
                ),
            ]
            if number == 5:
                outputs.append(nbformat.v4.new_output("display_data", data={"image/png": image}))
            cells.append(nbformat.v4.new_code_cell(source, outputs=outputs))
            cells.append(nbformat.v4.new_markdown_cell(" ".join(rng.choices(words, k=60))))
        folder = tree / f"part-{index // 100:02d}"
        folder.mkdir(exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / f"nb-{index:04d}.ipynb")
    return holding


def best_of(repeat: int, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """The best wall-clock time of ``repeat`` runs, and the last run's output."""
    best, output = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        output = done.stdout
    return best, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=1000)
    parser.add_argument("--secrets", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as name:
        tmp = Path(name)
        env = isolate(tmp)
        alphabet = string.ascii_letters + string.digits
        values = ["sk-" + "".join(rng.choices(alphabet, k=29)) for _ in range(args.secrets)]
        dotenv = tmp / "secrets.env"
        dotenv.write_text("".join(f"TOKEN_{i:03d}={v}\n" for i, v in enumerate(values)))
        subprocess.run(command("import", str(dotenv)), env=env, check=True, capture_output=True)
        tree = tmp / "repo"
        tree.mkdir()
        holding = make_notebooks(tree, args.notebooks, values, rng)
        size = sum(path.stat().st_size for path in tree.rglob("*.ipynb"))
        empty = tmp / "empty"
        empty.mkdir()

        scan, output = best_of(args.repeat, command("scan", str(tree)), env)
        hits = len(output.splitlines())
        assert hits == holding, f"{hits} hits, {holding} notebooks hold a value"
        startup, _ = best_of(args.repeat, command("scan", str(empty)), env)
        grep = shutil.which("grep")
        grepped = (
            best_of(args.repeat, [grep, "-rlF", values[0], str(tree)], env)[0] if grep else None
        )
    print(
        f"{args.notebooks} notebooks ({size / 1e6:.0f} MB), {args.secrets} secrets, "
        f"{hits} hits; best of {args.repeat} runs, wall clock"
    )
    print(f"{'scan':<10}{scan:>8.2f} s   (beyond startup: {scan - startup:.2f} s)")
    print(f"{'startup':<10}{startup:>8.2f} s   (scan of an empty folder)")
    if grepped is not None:
        print(f"{'grep':<10}{grepped:>8.2f} s   (grep -rlF of one value)")


if __name__ == "__main__":
    main()
