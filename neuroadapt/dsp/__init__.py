"""Signal processing for the live and offline paths: pure functions and classes, no I/O.

Every array in the live path is samples first, ``(n_samples, n_channels)``, as
LSL delivers it; outputs are float64.
"""

from neuroadapt.dsp.bandpower import BANDS, BandPower, relative_power
from neuroadapt.dsp.filters import CausalFilter, design_preprocessing, filter_offline

__all__ = [
    "BANDS",
    "BandPower",
    "CausalFilter",
    "design_preprocessing",
    "filter_offline",
    "relative_power",
]
