"""Signal processing for the live and offline paths: pure functions and classes, no I/O.

Every array in the live path is samples first, ``(n_samples, n_channels)``, as
LSL delivers it; outputs are float64.
"""

from neuroadapt.dsp.artifacts import ArtifactDetector, ArtifactThresholds, WindowArtifacts
from neuroadapt.dsp.bandpower import BANDS, BandPower, relative_power
from neuroadapt.dsp.filters import CausalFilter, design_preprocessing, filter_offline
from neuroadapt.dsp.quality import ChannelQuality, QualityChange, QualityLevel

__all__ = [
    "BANDS",
    "ArtifactDetector",
    "ArtifactThresholds",
    "BandPower",
    "CausalFilter",
    "ChannelQuality",
    "QualityChange",
    "QualityLevel",
    "WindowArtifacts",
    "design_preprocessing",
    "filter_offline",
    "relative_power",
]
