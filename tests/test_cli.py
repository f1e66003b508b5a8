"""The `worldsim` command: benchmarks print one JSON object last; the demo writes its files; bad input fails."""

import json
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "worldsim.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_bench_env_prints_json_last():
    p = run("bench", "env", "steps=300")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "env" and result["steps_per_s"] > 0 and result["obs_shape"] == [64, 64, 3]


def test_demo_writes_video_and_contact_sheet(tmp_path):
    p = run("demo", "steps=40", f"out={tmp_path}", "video=real.gif")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 40
    assert (tmp_path / "real.gif").stat().st_size > 1000
    assert (tmp_path / "contact_sheet.png").stat().st_size > 1000


@pytest.mark.parametrize("args", [["nosuchcommand"], ["demo", "nosuchkey=1"], ["bench", "warp"]])
def test_bad_commands_fail_with_a_message(args):
    p = run(*args)
    assert p.returncode != 0
    assert p.stderr.strip()
