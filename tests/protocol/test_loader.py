"""Protocol files: parsing, every error with its path, the shipped protocols."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroadapt.errors import ProtocolError
from neuroadapt.paths import PROJECT_ROOT
from neuroadapt.protocol import check_against_stream, load_protocol, parse_protocol
from neuroadapt.protocol.schema import Protocol

SHIPPED = sorted((PROJECT_ROOT / "protocols").glob("*.toml"))

MINIMAL = """
[protocol]
name = "t"
scene = "lagoon"
[[features]]
name = "alpha"
kind = "relative_band_power"
band = [8, 12]
total = [1, 40]
channels = ["O1", "O2"]
[[phases]]
name = "baseline"
kind = "baseline"
duration = 10
[[phases]]
name = "training"
kind = "training"
duration = 20
[[mappings]]
feature = "alpha"
parameter = "fog_density"
invert = true
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, "p.toml")
    return info.value.problems


def test_shipped_protocols_exist_and_validate():
    assert SHIPPED, "no protocols shipped"
    for path in SHIPPED:
        loaded = load_protocol(path)
        assert loaded.protocol.mappings, path
        assert set(loaded.outputs) == {m.parameter for m in loaded.protocol.mappings}


def test_minimal_protocol_defaults():
    p = parse_protocol(MINIMAL)
    assert p.signal.window == 1.0 and p.signal.hop == 0.25 and p.signal.notch == 50
    assert p.duration == 30
    assert [ph.shows_feedback for ph in p.phases] == [False, True]
    assert p.channels == ["O1", "O2"]


def test_toml_round_trip_keeps_the_protocol():
    p = parse_protocol(MINIMAL)
    again = parse_protocol(p.scaled(0.5).to_toml("header line"))
    assert again.duration == 15
    assert again.mappings == p.mappings and again.features == p.features


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "duration = 10",
            "duration = -5",
            "p.toml: phases[0].duration: input should be greater than 0",
        ),
        ('kind = "baseline"', 'kind = "basline"', "p.toml: phases[0].kind: input should be"),
        (
            "band = [8, 12]",
            "band = [12, 8]",
            "p.toml: features[0].band: low edge 12 Hz must be below high edge 8 Hz",
        ),
        ('name = "alpha"', 'nme = "alpha"', "p.toml: features[0].nme: unknown field"),
        (
            'feature = "alpha"',
            'feature = "alpah"',
            "p.toml: mappings[0].feature: unknown feature 'alpah'",
        ),
        ("total = [1, 40]", "total = [9, 40]", "must lie within total"),
        (
            'channels = ["O1", "O2"]',
            "channels = []",
            "features[0].channels: list should have at least 1",
        ),
        (
            '[[phases]]\nname = "baseline"',
            '[[phases]]\nname = "training"',
            "phases[1].name: duplicate phase name",
        ),
        (
            'scene = "lagoon"',
            'scene = "lagoon"\ncolour = 3',
            "p.toml: protocol.colour: unknown field",
        ),
        (
            "band = [8, 12]",
            "band = [1, 12]",
            "features[0].band: a 1 s window holds fewer than 2 cycles",
        ),
        (
            "[[mappings]]",
            "[signal]\nhop = 2.0\n[[mappings]]",
            "p.toml: signal: hop (2 s) must not exceed window (1 s)",
        ),
    ],
)
def test_each_mistake_gives_its_line(old, new, expected):
    assert old in MINIMAL
    problems = errors_of(MINIMAL.replace(old, new, 1))
    assert any(expected.lower() in line.lower() for line in problems), problems
    assert all(line.startswith("p.toml: ") for line in problems)
    assert all("\n" not in line for line in problems)


def test_every_error_is_reported_at_once():
    text = MINIMAL.replace("duration = 10", "duration = 0").replace(
        "duration = 20", "duration = -1"
    )
    problems = errors_of(text)
    assert any("phases[0].duration" in p for p in problems)
    assert any("phases[1].duration" in p for p in problems)


def test_syntax_error_is_one_line():
    problems = errors_of(MINIMAL + "\n[[phases]\n")
    assert len(problems) == 1 and "TOML syntax error" in problems[0]


def test_future_format_is_refused_clearly():
    problems = errors_of("format = 3\n" + MINIMAL)
    assert "reads protocol formats 1 and 2" in problems[0]


def test_format_1_is_converted_on_load():
    p = parse_protocol("format = 1\n" + MINIMAL)
    assert p.format == 2 and p == parse_protocol("format = 2\n" + MINIMAL)


def test_baseline_cannot_show_feedback():
    problems = errors_of(
        MINIMAL.replace('kind = "baseline"\n', 'kind = "baseline"\nfeedback = true\n')
    )
    assert any("baseline phase cannot show feedback" in p for p in problems)


def test_feedback_before_calibration_is_refused():
    text = MINIMAL.replace(
        'name = "baseline"\nkind = "baseline"\nduration = 10',
        'name = "warmup"\nkind = "training"\nduration = 5\n'
        '[[phases]]\nname = "baseline"\nkind = "baseline"\nduration = 10',
    )
    problems = errors_of(text)
    assert any("phases[0]: shows feedback before the calibration phase" in p for p in problems)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_unknown_scene_parameter_names_the_scene_and_its_parameters(tmp_path):
    path = write(tmp_path, MINIMAL.replace('parameter = "fog_density"', 'parameter = "fogginess"'))
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    (line,) = info.value.problems
    assert line.startswith(
        f"{path}: mappings[0].parameter: scene 'lagoon' has no parameter 'fogginess'; it has "
    )
    assert "fog_density" in line


def test_unknown_scene(tmp_path):
    path = write(tmp_path, MINIMAL.replace('scene = "lagoon"', 'scene = "volcano"'))
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert any("protocol.scene:" in p and "volcano" in p for p in info.value.problems)


def test_output_outside_the_parameter_range(tmp_path):
    path = write(tmp_path, MINIMAL + "output = [0.0, 7.0]\n")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert any("mappings[0].output" in p and "outside the range" in p for p in info.value.problems)


def test_missing_file():
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol("/nonexistent/p.toml")


def test_outputs_resolved_from_the_manifest(tmp_path):
    loaded = load_protocol(write(tmp_path, MINIMAL))
    lo, hi = loaded.outputs["fog_density"]
    assert lo < hi
    assert lo <= loaded.initial["fog_density"] <= hi
    assert len(loaded.sha256) == 64


def test_check_against_stream():
    p = parse_protocol(MINIMAL)
    check_against_stream(p, 250, ["Fz", "o1", "O2"])  # case-insensitive
    with pytest.raises(ProtocolError) as info:
        check_against_stream(p, 60, ["Fz", "Cz"], "muse")
    text = "\n".join(info.value.problems)
    assert "O1, O2 not in muse (it has Fz, Cz)" in text
    assert "40 Hz is not below the Nyquist frequency 30 Hz" in text
    assert "signal.notch" in text


def test_scaled_rejects_nonpositive():
    with pytest.raises(ValueError):
        Protocol.model_validate(parse_protocol(MINIMAL).model_dump()).scaled(0)
