"""`--device`: what `auto` picks on each kind of machine, and the errors for absent devices.

Replaces test_sam2.py's `test_device_choice`, whose `auto` check accepted any answer: here each
machine is simulated, so every branch is checked on any machine.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import sam_fixtures  # noqa: E402  - skips (or, with EVERYMASK_REQUIRE_TORCH=1, fails) without torch

torch = sam_fixtures.torch

from everymask.backends.sam.models import pick_device  # noqa: E402
from everymask.errors import EverymaskError  # noqa: E402


@pytest.fixture
def machine(monkeypatch):
    def set_machine(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return set_machine


@pytest.mark.parametrize("cuda, mps, auto", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                             (False, False, "cpu")])
def test_auto_takes_cuda_then_mps_then_cpu(machine, cuda, mps, auto):
    machine(cuda, mps)
    assert pick_device("auto") == torch.device(auto)
    assert pick_device("") == torch.device(auto)
    assert pick_device("CPU") == torch.device("cpu")


def test_explicit_devices(machine):
    machine(cuda=True, mps=False)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(EverymaskError, match=r"^--device mps: no such device here \(torch sees cuda, no mps\); "
                                             r"use --device cpu or auto$"):
        pick_device("mps")
    machine(cuda=False, mps=True)
    assert pick_device("mps") == torch.device("mps")
    with pytest.raises(EverymaskError, match=r"^--device cuda: no such device here \(torch sees no cuda, mps\)"):
        pick_device("cuda")
    with pytest.raises(EverymaskError, match=r"^--device 'tpu' is invalid: choose auto, cpu, cuda or mps$"):
        pick_device("tpu")
