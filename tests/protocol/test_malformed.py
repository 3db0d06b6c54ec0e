"""A corpus of malformed protocol files: each gives its expected one-line error.

Each file's first line is ``# expect: TEXT``: some line of ``validate``'s
output for the file must start with ``FILE: TEXT``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroadapt.errors import ProtocolError
from neuroadapt.protocol import load_protocol

CORPUS = sorted((Path(__file__).parent / "malformed").glob("*.toml"))


def expected_of(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    return first.removeprefix("# expect: ")


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_file_gives_its_error_line(path):
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    problems = info.value.problems
    assert all(line.startswith(f"{path}: ") and "\n" not in line for line in problems)
    assert any(line.startswith(f"{path}: {expected_of(path)}") for line in problems), problems
