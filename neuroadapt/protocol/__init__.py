"""Protocol files: schema, loader with clear errors, and the pure engine."""

from .engine import Control, Marker, ProtocolEngine
from .loader import LoadedProtocol, check_against_stream, load_protocol, parse_protocol
from .schema import Protocol

__all__ = [
    "Control",
    "LoadedProtocol",
    "Marker",
    "Protocol",
    "ProtocolEngine",
    "check_against_stream",
    "load_protocol",
    "parse_protocol",
]
