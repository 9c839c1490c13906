"""core.environ.environment_set: a child started inside the block sees the values, the caller's own
environment is back afterwards (also after an exception), and None unsets a variable for the block."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.environ import environment_set


def test_children_see_the_block_and_the_caller_gets_its_environment_back(monkeypatch):
    monkeypatch.setenv("TEMPDRAFT_T_KEPT", "caller")
    monkeypatch.delenv("TEMPDRAFT_T_NEW", raising=False)
    read = "import os; print(os.environ.get('TEMPDRAFT_T_KEPT'), os.environ.get('TEMPDRAFT_T_NEW'))"
    with pytest.raises(RuntimeError), environment_set({"TEMPDRAFT_T_NEW": "4", "TEMPDRAFT_T_KEPT": None}):
        child = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True)
        assert child.stdout.split() == ["None", "4"]
        raise RuntimeError("the block fails")
    assert os.environ["TEMPDRAFT_T_KEPT"] == "caller" and "TEMPDRAFT_T_NEW" not in os.environ
