"""No unpickling, eval/exec or shell in the package."""
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "everymask"
FORBIDDEN = [r"\bimport pickle\b", r"\bfrom pickle\b", r"\bpickle\.", r"(?<![.\w])eval\(", r"(?<![.\w])exec\(", r"shell\s*=\s*True",
             r"allow_pickle\s*=\s*True", r"\bcPickle\b", r"\bdill\b", r"\bjoblib\.load\b"]


def test_no_forbidden_calls_in_the_package():
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pat in FORBIDDEN:
                if re.search(pat, line):
                    hits.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert hits == []


def test_every_torch_load_is_weights_only():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.end():m.end() + 200].split("\n\n")[0]
            assert "weights_only=True" in call, f"{path}: torch.load({call[:80]}"
