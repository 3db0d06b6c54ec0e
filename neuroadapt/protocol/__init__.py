"""Protocol files: schema, loader with clear errors, the pure engine, sham traces."""

from .engine import Control, Marker, PhaseRun, ProtocolEngine, expand_schedule
from .loader import LoadedProtocol, check_against_stream, load_protocol, parse_protocol
from .schema import Protocol
from .sham import ShamTrace, load_sham

__all__ = [
    "Control",
    "LoadedProtocol",
    "Marker",
    "PhaseRun",
    "Protocol",
    "ProtocolEngine",
    "ShamTrace",
    "check_against_stream",
    "expand_schedule",
    "load_protocol",
    "load_sham",
    "parse_protocol",
]
