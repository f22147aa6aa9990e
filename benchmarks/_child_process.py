"""Each measurement of a benchmark runs in a fresh process, so that it has its own
peak RSS, imports and thread pools: the parent runs the script again with its
arguments, the child reports one JSON result on stdout."""

from __future__ import annotations

import json
import subprocess
import sys

_PREFIX = "RESULT "


def report(result: dict) -> None:
    """In the child: hand ``result`` to the parent."""
    print(_PREFIX + json.dumps(result), flush=True)


def status_kib(field: str) -> int:
    """In the child: a memory figure of this process from /proc/self/status, in
    KiB ("VmRSS": resident now; "VmHWM": its peak)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def run_child(script: str, *args: str, cwd=None) -> dict:
    """Run ``python script *args`` in a fresh process; the result it reported."""
    done = subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    if done.returncode:
        sys.stderr.write(done.stderr)  # the child's traceback
        done.check_returncode()
    out = done.stdout
    line = next(x for x in out.splitlines() if x.startswith(_PREFIX))
    return json.loads(line[len(_PREFIX) :])
