"""What the supervisor prints for the therapist (pure)."""

from __future__ import annotations

from neuroadapt.supervisor import quality_line


def test_few_channels_are_each_named_with_the_reason_when_not_good():
    q = {"Fz": {"level": "good", "reason": "ok"}, "O1": {"level": "bad", "reason": "flat"}}
    assert quality_line(q) == "Fz good, O1 bad (flat)"


def test_a_large_cap_names_only_the_channels_that_need_attention():
    q = {f"E{i}": {"level": "good", "reason": "ok"} for i in range(62)}
    q["O1"] = {"level": "fair", "reason": "line noise"}
    q["O2"] = {"level": "bad", "reason": "railed"}
    assert quality_line(q) == "62 of 64 channels good; fair: O1 (line noise); bad: O2 (railed)"


def test_no_quality_yet():
    assert quality_line({}) == "no channel quality yet"
