"""neuroadapt: a neuro-adaptive VR therapy engine.

EEG arrives over Lab Streaming Layer, band-power features are computed in real
time, a protocol turns them into scene parameters, and a Panda3D scene adapts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neuroadapt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
