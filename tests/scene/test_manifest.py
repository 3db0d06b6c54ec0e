"""Scene manifests: the shipped lagoon loads, malformed files say what and where."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from neuroadapt.errors import ConfigError, ManifestError
from neuroadapt.scene import (
    Scene,
    find_scene,
    list_scenes,
    load_manifest,
    load_scene_class,
)

GOOD_PARAM = """
[[parameters]]
name = "fog_density"
description = "fog"
range = [0.0, 1.0]
default = 0.5
unit = ""
max_rate = 0.2
"""


def write_scene(root: Path, name: str, toml: str, *, title: str = "Test") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    header = f'[scene]\ntitle = "{title}"\ndescription = "a test scene"\n'
    (folder / "scene.toml").write_text(header + textwrap.dedent(toml))
    return folder


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return info.value.problems


def test_lagoon_manifest_loads():
    folder = find_scene("lagoon")
    manifest = load_manifest(folder / "scene.toml")
    assert manifest.name == "lagoon"
    assert manifest.title
    assert {"fog_density", "light_warmth", "water_calm", "sun_height"} <= set(manifest.names)
    for p in manifest.parameters:
        assert p.low < p.high
        assert p.low <= p.default <= p.high and p.low <= p.neutral <= p.high
        assert p.max_rate > 0 and p.description
    assert manifest["fog_density"].range == (0.0, 1.0)
    assert load_manifest(folder) == manifest  # the folder works as well as the file


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GOOD_PARAM.replace("[0.0, 1.0]", "[1.0, 0.0]"), "parameters[0].range: min must be < max"),
        (
            GOOD_PARAM.replace("[0.0, 1.0]", "[0.0]"),
            "parameters[0].range: must be [min, max] with two finite numbers",
        ),
        (
            GOOD_PARAM.replace("default = 0.5", "default = 1.5"),
            "parameters[0].default: 1.5 is outside range [0, 1]",
        ),
        (
            GOOD_PARAM.replace("default = 0.5", 'default = "0.5"'),
            "parameters[0].default: must be a finite number",
        ),
        (
            GOOD_PARAM.replace("default = 0.5", "default = true"),
            "parameters[0].default: must be a finite number",
        ),
        (
            GOOD_PARAM.replace("max_rate = 0.2", "max_rate = 0"),
            "parameters[0].max_rate: must be a finite number > 0",
        ),
        (
            GOOD_PARAM.replace("unit = ", "units = "),
            "parameters[0].units: unknown field; did you mean 'unit'?",
        ),
        (
            GOOD_PARAM.replace("max_rate = 0.2", "max_rate = nan"),
            "parameters[0].max_rate: must be a finite number > 0",
        ),
        (
            GOOD_PARAM.replace('"fog_density"', '"Fog Density"'),
            "parameters[0].name: must be lower_snake_case",
        ),
        (
            GOOD_PARAM.replace('"fog_density"', '"frame_time_ms"'),
            "parameters[0].name: 'frame_time_ms' is reserved",
        ),
        (
            GOOD_PARAM + GOOD_PARAM,
            "parameters[1].name: duplicate parameter 'fog_density' (also parameters[0])",
        ),
        (GOOD_PARAM.replace("default = 0.5\n", ""), "parameters[0].default: missing"),
        (GOOD_PARAM + "neutral = 2.0\n", "parameters[0].neutral: 2 is outside range [0, 1]"),
        ("", "parameters: no [[parameters]]; a scene needs at least one"),
        (GOOD_PARAM + "\n[extra]\nx = 1\n", "extra: unknown table"),
    ],
)
def test_malformed_manifest_gives_one_line_naming_file_and_field(tmp_path, body, expected):
    folder = write_scene(tmp_path, "broken", body)
    problems = problems_of(folder / "scene.toml")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{folder / 'scene.toml'}: {expected}"), problems[0]


def test_misspelt_required_field_is_named_with_a_hint(tmp_path):
    folder = write_scene(tmp_path, "typo", GOOD_PARAM.replace("max_rate", "max-rate"))
    assert problems_of(folder) == [
        f"{folder / 'scene.toml'}: parameters[0].max-rate: unknown field; did you mean 'max_rate'?",
        f"{folder / 'scene.toml'}: parameters[0].max_rate: missing",
    ]


def test_every_problem_is_reported_on_its_own_line(tmp_path):
    body = GOOD_PARAM.replace("[0.0, 1.0]", "[1.0, 0.0]").replace("max_rate = 0.2", "max_rate = -1")
    body += GOOD_PARAM.replace('"fog_density"', '"Bad"')
    folder = write_scene(tmp_path, "broken", body, title="")
    problems = problems_of(folder)
    assert [p.split(": ", 2)[1] for p in problems] == [
        "scene.title",
        "parameters[0].range",
        "parameters[0].max_rate",
        "parameters[1].name",
    ]
    assert all(p.startswith(str(folder / "scene.toml")) for p in problems)
    assert str(ManifestError(problems)).count("\n") == 3


def test_path_inside_the_current_directory_is_shown_relative(tmp_path, monkeypatch):
    folder = write_scene(
        tmp_path / "scenes", "broken", GOOD_PARAM.replace("[0.0, 1.0]", "[1.0, 0.0]")
    )
    monkeypatch.chdir(tmp_path)
    assert problems_of(folder) == [
        "scenes/broken/scene.toml: parameters[0].range: min must be < max"
    ]


def test_unreadable_manifests(tmp_path):
    assert problems_of(tmp_path / "nowhere" / "scene.toml") == [
        f"{tmp_path / 'nowhere' / 'scene.toml'}: no such file"
    ]
    folder = write_scene(tmp_path, "syntax", "[[parameters]\nname = 1\n")
    (line,) = problems_of(folder)
    assert line.startswith(f"{folder / 'scene.toml'}: invalid TOML:") and "line" in line


def test_neutral_defaults_to_default(tmp_path):
    manifest = load_manifest(write_scene(tmp_path, "ok", GOOD_PARAM))
    assert manifest["fog_density"].neutral == 0.5
    assert manifest.defaults() == manifest.neutral() == {"fog_density": 0.5}
    assert manifest["fog_density"].unit == ""
    with pytest.raises(KeyError, match="fog_density"):
        manifest["nope"]


def test_check_values_names_the_parameter_and_the_valid_range():
    manifest = load_manifest(find_scene("lagoon"))
    assert manifest.check_values({"fog_density": 0.25}) == {"fog_density": 0.25}
    with pytest.raises(ConfigError) as info:
        manifest.check_values(
            {"fogginess": 0.5, "fog_density": 2, "water_calm": float("nan")}, label="--set "
        )
    fog_unknown, fog_range, water = info.value.problems
    assert (
        fog_unknown.startswith("--set fogginess: unknown parameter")
        and "fog_density, light_warmth" in fog_unknown
    )
    assert fog_range == "--set fog_density: 2 is out of range [0, 1]"
    assert water.startswith("--set water_calm:") and "finite" in water


def test_unknown_scene_lists_the_available_ones():
    with pytest.raises(ManifestError) as info:
        find_scene("atlantis")
    message = str(info.value)
    assert "unknown scene 'atlantis'" in message and "lagoon" in message
    assert "\n" not in message
    for name in ("..", ".hidden", ""):
        with pytest.raises(ManifestError, match="unknown scene"):
            find_scene(name)
    with pytest.raises(ManifestError, match=r"no scene\.toml there"):
        find_scene("../lagoon")  # with a separator it is a path, not a name


def test_search_order_env_then_cwd_then_repo(tmp_path, monkeypatch):
    env_a, env_b, cwd = tmp_path / "a", tmp_path / "b", tmp_path / "cwd"
    write_scene(env_a, "lagoon", GOOD_PARAM, title="Shadowing lagoon")
    write_scene(env_b, "garden", GOOD_PARAM)
    write_scene(cwd / "scenes", "garden", GOOD_PARAM)
    write_scene(cwd / "scenes", "forest", GOOD_PARAM)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NEUROADAPT_SCENES", f"{env_a}{__import__('os').pathsep}{env_b}")
    assert find_scene("lagoon") == env_a / "lagoon"
    assert find_scene("garden") == env_b / "garden"
    assert find_scene("forest") == cwd / "scenes" / "forest"
    assert {"lagoon", "garden", "forest"} <= set(list_scenes())
    monkeypatch.delenv("NEUROADAPT_SCENES")
    assert load_manifest(find_scene("lagoon")).title == "Lagoon at sunset"  # the shipped one
    assert find_scene(str(env_b / "garden")) == env_b / "garden"  # a path is used as is


def test_list_scenes_includes_the_lagoon():
    assert "lagoon" in list_scenes()


def test_load_scene_class_finds_the_one_scene(tmp_path):
    cls = load_scene_class(find_scene("lagoon"))
    assert issubclass(cls, Scene) and cls is not Scene
    assert load_scene_class(find_scene("lagoon")) is cls  # imported once

    folder = write_scene(tmp_path, "empty", GOOD_PARAM)
    with pytest.raises(ManifestError, match="no such file"):
        load_scene_class(folder)
    (folder / "scene.py").write_text(
        textwrap.dedent("""
        from neuroadapt.scene import Scene

        class A(Scene):
            def build(self): pass
            def apply(self, values): pass

        class B(A):
            pass
    """)
    )
    with pytest.raises(ManifestError, match="exactly one Scene subclass, found A, B"):
        load_scene_class(folder)
