"""The protocol file format (TOML), as pydantic models.

A protocol describes a neurofeedback session: how the signal is cleaned, which
features are computed, the phases in order, how a baseline calibrates the
features, when the patient is rewarded, and how features and the reward map
onto scene parameters.

Format 2 (this file) grows format 1: every format-1 file is a valid format-2
file with the same meaning, so :func:`~neuroadapt.protocol.loader.parse_protocol`
converts it on load by reading it with these models. Field by field
reference: ``docs/protocols.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 2
#: Formats this version reads (older ones are converted on load).
READABLE_FORMATS = (1, 2)

#: Artifact detectors a protocol can name (``neuroadapt.dsp.artifacts.DETECTORS``).
DETECTOR_NAMES = ("dropout", "railed", "flat", "blink", "amplitude", "emg", "line_noise")
#: Detectors that may hold feedback; mains hum is reported but never holds.
HOLDING_DETECTORS = ("dropout", "railed", "flat", "blink", "amplitude", "emg")
#: Name a mapping or condition uses for the reward state (0 or 1).
REWARD = "reward"

PositiveFloat = Annotated[float, Field(gt=0)]
Band = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)]]
Range = tuple[float, float]
FeatureName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ordered(v: Range | None, what: str = "low edge", unit: str = " Hz") -> Range | None:
    if v is not None and not v[0] < v[1]:
        hi = what.replace("low", "high")
        raise ValueError(f"{what} {v[0]:g}{unit} must be below {hi} {v[1]:g}{unit}")
    return v


class Meta(_Strict):
    """Who wrote the protocol, which scene it drives, which headset it expects."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    version: str = "1.0.0"
    description: str = ""
    author: str = ""
    references: list[str] = []
    scene: str = "lagoon"
    headset: str | None = None  # a headset profile id from eeg/, checked when set
    channels: list[str] = []  # channels the session needs beyond those of the features


class Signal(_Strict):
    """Causal pre-processing and the sliding analysis window."""

    reference: Literal["none", "average"] | Annotated[list[str], Field(min_length=1)] = "none"
    highpass: Annotated[float, Field(ge=0)] = 1.0  # Hz; 0 turns it off
    notch: Literal[0, 50, 60] = 50  # mains frequency in Hz; 0 turns it off
    window: Annotated[float, Field(gt=0, le=30)] = 1.0
    hop: Annotated[float, Field(gt=0, le=30)] = 0.25

    @model_validator(mode="after")
    def _hop_within_window(self) -> Signal:
        if self.hop > self.window:
            raise ValueError(f"hop ({self.hop:g} s) must not exceed window ({self.window:g} s)")
        return self


FeatureKind = Literal["band_power", "relative_band_power", "ratio", "asymmetry"]
_POWER_KINDS = ("band_power", "relative_band_power", "asymmetry")


class Feature(_Strict):
    """A named feature.

    ``band_power``: mean band power over ``channels`` (or a scalp ``region``).
    ``relative_band_power``: band power over power in ``total``, per channel,
    then averaged; unitless and robust to gain. ``ratio``: ``numerator`` over
    ``denominator``, two features defined earlier. ``asymmetry``:
    ``ln P(right) - ln P(left)`` of the band at two channels. The band is
    ``band`` in Hz, or ``iaf_band`` in Hz relative to the individual alpha
    frequency measured in the calibration baseline (10 Hz until then).
    """

    name: FeatureName
    kind: FeatureKind
    band: Band | None = None
    iaf_band: Range | None = None
    total: Band | None = None
    channels: Annotated[list[str], Field(min_length=1)] | None = None
    region: Literal["frontal", "central", "temporal", "parietal", "occipital"] | None = None
    method: Literal["welch", "envelope"] = "welch"
    numerator: str | None = None
    denominator: str | None = None
    left: str | None = None
    right: str | None = None

    @field_validator("band", "total")
    @classmethod
    def _band_ordered(cls, v: Band | None) -> Band | None:
        return _ordered(v)

    @field_validator("iaf_band")
    @classmethod
    def _iaf_ordered(cls, v: Range | None) -> Range | None:
        return _ordered(v, "low offset")

    @model_validator(mode="after")
    def _kind_fields(self) -> Feature:
        k = self.kind
        given = {
            n
            for n in (
                "band",
                "iaf_band",
                "total",
                "channels",
                "region",
                "numerator",
                "denominator",
                "left",
                "right",
            )
            if getattr(self, n) is not None
        }
        allowed = {
            "band_power": {"band", "iaf_band", "channels", "region"},
            "relative_band_power": {"band", "iaf_band", "total", "channels", "region"},
            "ratio": {"numerator", "denominator"},
            "asymmetry": {"band", "iaf_band", "left", "right"},
        }[k]
        extra = sorted(given - allowed)
        if extra:
            verb = "does" if len(extra) == 1 else "do"
            raise ValueError(f"{', '.join(repr(e) for e in extra)} {verb} not apply to kind {k!r}")
        if k == "ratio":
            if self.numerator is None or self.denominator is None:
                raise ValueError("a ratio needs 'numerator' and 'denominator' (feature names)")
            if self.method != "welch":
                raise ValueError("'method' does not apply to a ratio (its parts have one)")
            return self
        if (self.band is None) == (self.iaf_band is None):
            raise ValueError("give exactly one of 'band' (Hz) or 'iaf_band' (Hz from the IAF)")
        if k == "asymmetry":
            if self.left is None or self.right is None:
                raise ValueError("an asymmetry needs 'left' and 'right' channels")
            if self.left.upper() == self.right.upper():
                raise ValueError("'left' and 'right' are the same channel")
            return self
        if (self.channels is None) == (self.region is None):
            raise ValueError("give exactly one of 'channels' or 'region'")
        if self.channels is not None and len({c.upper() for c in self.channels}) != len(
            self.channels
        ):
            raise ValueError("channels are listed twice")
        if k == "relative_band_power":
            if self.total is None:
                raise ValueError("relative_band_power needs 'total', the reference band in Hz")
            if self.band is not None and not (
                self.total[0] <= self.band[0] and self.band[1] <= self.total[1]
            ):
                raise ValueError(f"band {list(self.band)} must lie within total {list(self.total)}")
        return self

    def resolved_band(self, iaf: float = 10.0) -> tuple[float, float] | None:
        """The band in Hz for an individual alpha frequency ``iaf`` (None for a ratio)."""
        if self.band is not None:
            return (float(self.band[0]), float(self.band[1]))
        if self.iaf_band is not None:
            return (max(iaf + self.iaf_band[0], 0.0), iaf + self.iaf_band[1])
        return None

    @property
    def site_channels(self) -> list[str]:
        """Explicitly named channels (a region is resolved against the stream)."""
        if self.kind == "asymmetry":
            return [self.left, self.right]  # type: ignore[list-item]
        return list(self.channels or [])


PhaseKind = Literal["baseline", "training", "rest", "transfer"]
Calibrates = Literal["normalisation", "iaf", "threshold"]


class Phase(_Strict):
    """One phase of the session, in order (``repeat`` times; see ``group``)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    kind: PhaseKind
    duration: PositiveFloat
    feedback: bool | None = None
    instructions: str = ""
    repeat: Annotated[int, Field(ge=1, le=100)] = 1
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    calibrates: list[Calibrates] | None = None

    @model_validator(mode="after")
    def _feedback_rules(self) -> Phase:
        if self.kind == "baseline" and self.feedback:
            raise ValueError("a baseline phase cannot show feedback (it is being calibrated)")
        if self.kind == "transfer" and self.feedback:
            raise ValueError("a transfer phase hides feedback by definition")
        if self.calibrates and self.kind != "baseline":
            raise ValueError("only a baseline phase calibrates")
        return self

    @property
    def shows_feedback(self) -> bool:
        """Feedback defaults to on for training and off otherwise."""
        return self.kind == "training" if self.feedback is None else self.feedback

    @property
    def rewarded(self) -> bool:
        """Whether the reward rule runs: training and transfer phases."""
        return self.kind in ("training", "transfer")


class Normalisation(_Strict):
    """How baseline statistics turn a feature into a normalised value.

    ``zscore``: (x - mean) / sd. ``percentile``: the fraction of baseline
    values at or below x (0..1). ``robust_minmax``: x rescaled so the
    ``percentiles`` of the baseline map to 0 and 1 (not clipped).
    """

    method: Literal["zscore", "percentile", "robust_minmax"] = "zscore"
    from_phase: str = "baseline"
    percentiles: Range = (5.0, 95.0)

    @field_validator("percentiles")
    @classmethod
    def _pct(cls, v: Range) -> Range:
        if not 0 <= v[0] < v[1] <= 100:
            raise ValueError(f"need 0 <= low < high <= 100, got {list(v)}")
        return v


class Threshold(_Strict):
    """Where a condition's threshold comes from.

    ``fixed``: ``value``. ``percentile``: the ``percentile`` of the feature in
    the calibration baseline. ``adaptive``: starts at ``percentile`` (or
    ``value``) and, every ``interval`` seconds of a rewarded phase, moves by
    ``step * (achieved rate - target rate)`` (harder when rewarded too often),
    clipped to ``bounds``.
    """

    kind: Literal["fixed", "percentile", "adaptive"] = "fixed"
    value: float | None = None
    percentile: Annotated[float, Field(ge=0, le=100)] | None = None
    target_rate: Annotated[float, Field(gt=0, lt=1)] = 0.6
    bounds: Range | None = None
    step: Annotated[float, Field(gt=0)] = 1.0
    interval: Annotated[float, Field(gt=0, le=60)] = 2.0

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, v: Range | None) -> Range | None:
        return _ordered(v, "low bound", "")

    @model_validator(mode="after")
    def _fields(self) -> Threshold:
        if self.kind == "fixed" and self.value is None:
            raise ValueError("a fixed threshold needs 'value'")
        if self.kind == "percentile" and self.percentile is None:
            raise ValueError("a percentile threshold needs 'percentile' (0-100)")
        if self.kind == "adaptive":
            if self.bounds is None:
                raise ValueError("an adaptive threshold needs 'bounds' [low, high]")
            if self.value is not None and not self.bounds[0] <= self.value <= self.bounds[1]:
                raise ValueError(
                    f"start value {self.value:g} is outside bounds {list(self.bounds)}"
                )
        return self


class Condition(_Strict):
    """One feature above (or below) its threshold, with hysteresis."""

    feature: str
    direction: Literal["above", "below"] = "above"
    scale: Literal["normalised", "raw"] = "normalised"
    threshold: Threshold
    hysteresis: Annotated[float, Field(ge=0)] = 0.0


class Reward(_Strict):
    """When the patient is rewarded: ``all`` or ``any`` of the conditions.

    A reward lasts at least ``min_dwell`` seconds once it starts (and does not
    start closer than that to the end of a phase), so rewards do not chatter.
    """

    combine: Literal["all", "any"] = "all"
    conditions: Annotated[list[Condition], Field(min_length=1)]
    min_dwell: Annotated[float, Field(ge=0, le=60)] = 0.5


class Sham(_Strict):
    """Blinded studies: replay another session's control trace instead of the live one."""

    source: Annotated[str, Field(min_length=1)]


class Mapping(_Strict):
    """A feature (or ``reward``) drives a scene parameter.

    The normalised feature value is put through ``curve`` over ``input`` to a
    position 0..1 (clipped), optionally inverted, rescaled to ``output``
    (default: the parameter's range in the scene manifest), then smoothed with
    the first-order time constant ``smoothing`` in seconds.
    """

    feature: str
    parameter: str
    curve: Literal["linear", "sigmoid", "step"] = "linear"
    scale: Literal["normalised", "raw"] = "normalised"
    input: Range | None = None
    output: Range | None = None
    invert: bool = False
    smoothing: Annotated[float, Field(ge=0, le=60)] = 1.0

    @field_validator("input")
    @classmethod
    def _input_ordered(cls, v: Range | None) -> Range | None:
        return _ordered(v, "input low", "")

    @property
    def input_range(self) -> Range:
        """``input``, defaulting to [0, 1] for the reward and [-2, 2] otherwise."""
        if self.input is not None:
            return self.input
        return (0.0, 1.0) if self.feature == REWARD else (-2.0, 2.0)


class ArtifactPolicy(_Strict):
    """Which artifact detectors hold feedback, and what the scene does meanwhile."""

    hold_on: list[
        Literal["dropout", "railed", "flat", "blink", "amplitude", "emg", "line_noise"]
    ] = list(HOLDING_DETECTORS)
    while_held: Literal["hold", "neutral"] = "hold"

    @field_validator("hold_on")
    @classmethod
    def _no_line_noise(cls, v: list[str]) -> list[str]:
        if "line_noise" in v:
            raise ValueError("line_noise never holds feedback (it is reported only)")
        return v


class Protocol(_Strict):
    """A whole protocol file."""

    format: Literal[1, 2] = FORMAT_VERSION
    protocol: Meta
    signal: Signal = Signal()
    features: Annotated[list[Feature], Field(min_length=1)]
    phases: Annotated[list[Phase], Field(min_length=1)]
    seed: Annotated[int, Field(ge=0)] = 0  # order of the shuffled phase groups
    normalisation: Normalisation = Normalisation()
    reward: Reward | None = None
    sham: Sham | None = None
    mappings: list[Mapping] = []
    artifacts: ArtifactPolicy = ArtifactPolicy()

    @property
    def duration(self) -> float:
        """Total planned duration in seconds (repeats included)."""
        return float(sum(p.duration * p.repeat for p in self.phases))

    @property
    def channels(self) -> list[str]:
        """Every explicitly named channel, in first-use order (regions not included)."""
        seen: dict[str, None] = {}
        for ch in self.protocol.channels:
            seen.setdefault(ch, None)
        for f in self.features:
            for ch in f.site_channels:
                seen.setdefault(ch, None)
        return list(seen)

    @property
    def uses_iaf(self) -> bool:
        """Whether a feature's band is relative to the individual alpha frequency."""
        return any(f.iaf_band is not None for f in self.features)

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
