"""The examples run (the README's demo command runs examples/quickstart.py)."""

import pathlib
import runpy

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_quickstart_runs_and_trains(capsys):
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    printed = capsys.readouterr().out
    losses = [float(line.split()[-1]) for line in printed.splitlines() if "loss" in line and "step" in line]
    assert len(losses) == 5 and losses[-1] < losses[0] / 10
