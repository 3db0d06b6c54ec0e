"""The protocol file format (TOML), as pydantic models.

A protocol describes a neurofeedback session: how the signal is cleaned, which
features are computed, the phases in order, how a baseline calibrates the
features, and how normalised features map onto scene parameters.

Format version 1 (this file) is the first format; later formats must either
load version-1 files or refuse them with a migration message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 1

PositiveFloat = Annotated[float, Field(gt=0)]
Band = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(_Strict):
    """Who wrote the protocol and which scene it drives."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    version: str = "1.0.0"
    description: str = ""
    author: str = ""
    references: list[str] = []
    scene: str = "lagoon"


class Signal(_Strict):
    """Causal pre-processing and the sliding analysis window."""

    highpass: Annotated[float, Field(ge=0)] = 1.0  # Hz; 0 turns it off
    notch: Literal[0, 50, 60] = 50  # mains frequency in Hz; 0 turns it off
    window: Annotated[float, Field(gt=0, le=30)] = 1.0
    hop: Annotated[float, Field(gt=0, le=30)] = 0.25

    @model_validator(mode="after")
    def _hop_within_window(self) -> Signal:
        if self.hop > self.window:
            raise ValueError(f"hop ({self.hop:g} s) must not exceed window ({self.window:g} s)")
        return self


class Feature(_Strict):
    """A named feature: band power averaged over channels.

    ``relative_band_power`` divides the band's power by the power in ``total``
    for each channel before averaging, so it is unitless and robust to gain.
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]
    kind: Literal["band_power", "relative_band_power"]
    band: Band
    total: Band | None = None
    channels: Annotated[list[str], Field(min_length=1)]

    @field_validator("band", "total")
    @classmethod
    def _ordered(cls, v: Band | None) -> Band | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"low edge {v[0]:g} Hz must be below high edge {v[1]:g} Hz")
        return v

    @model_validator(mode="after")
    def _total_for_relative(self) -> Feature:
        if self.kind == "relative_band_power":
            if self.total is None:
                raise ValueError("relative_band_power needs 'total', the reference band in Hz")
            if not (self.total[0] <= self.band[0] and self.band[1] <= self.total[1]):
                raise ValueError(f"band {list(self.band)} must lie within total {list(self.total)}")
        elif self.total is not None:
            raise ValueError("'total' only applies to relative_band_power")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels are listed twice")
        return self


class Phase(_Strict):
    """One phase of the session, in order."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    kind: Literal["baseline", "training", "rest"]
    duration: PositiveFloat
    feedback: bool | None = None
    instructions: str = ""

    @model_validator(mode="after")
    def _feedback_rules(self) -> Phase:
        if self.kind == "baseline" and self.feedback:
            raise ValueError("a baseline phase cannot show feedback (it is being calibrated)")
        return self

    @property
    def shows_feedback(self) -> bool:
        """Feedback defaults to on for training and off otherwise."""
        return self.kind == "training" if self.feedback is None else self.feedback


class Normalisation(_Strict):
    """How baseline statistics turn a feature into a normalised value."""

    method: Literal["zscore"] = "zscore"
    from_phase: str = "baseline"


class Mapping(_Strict):
    """A normalised feature drives a scene parameter.

    The normalised value is clipped to ``input``, rescaled to ``output``
    (default: the parameter's full range from the scene manifest), optionally
    inverted, then smoothed with a first-order time constant ``smoothing``.
    """

    feature: str
    parameter: str
    input: tuple[float, float] = (-2.0, 2.0)
    output: tuple[float, float] | None = None
    invert: bool = False
    smoothing: Annotated[float, Field(ge=0, le=60)] = 1.0

    @field_validator("input")
    @classmethod
    def _input_ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not v[0] < v[1]:
            raise ValueError(f"input low {v[0]:g} must be below input high {v[1]:g}")
        return v


class Protocol(_Strict):
    """A whole protocol file."""

    format: Literal[1] = 1
    protocol: Meta
    signal: Signal = Signal()
    features: Annotated[list[Feature], Field(min_length=1)]
    phases: Annotated[list[Phase], Field(min_length=1)]
    normalisation: Normalisation = Normalisation()
    mappings: list[Mapping] = []

    @property
    def duration(self) -> float:
        """Total planned duration in seconds."""
        return float(sum(p.duration for p in self.phases))

    @property
    def channels(self) -> list[str]:
        """Every channel any feature needs, in first-use order."""
        seen: dict[str, None] = {}
        for f in self.features:
            for ch in f.channels:
                seen.setdefault(ch, None)
        return list(seen)

    def scaled(self, factor: float) -> Protocol:
        """The same protocol with every phase duration multiplied by ``factor``."""
        if not factor > 0:
            raise ValueError(f"scale factor must be > 0, got {factor}")
        phases = [p.model_copy(update={"duration": p.duration * factor}) for p in self.phases]
        return self.model_copy(update={"phases": phases})

    def to_toml(self, header: str = "") -> str:
        """Serialise back to TOML (comments are not kept; ``header`` is prepended)."""
        import tomli_w

        body = tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))
        lines = "".join(f"# {line}\n" for line in header.splitlines())
        return lines + ("\n" if lines else "") + body
