"""Protocol files: schema, loader with clear errors, the pure engine, sham traces."""

from neuroadapt.protocol.engine import Control, Marker, PhaseRun, ProtocolEngine, expand_schedule
from neuroadapt.protocol.loader import (
    LoadedProtocol,
    check_against_stream,
    load_protocol,
    parse_protocol,
)
from neuroadapt.protocol.schema import Protocol
from neuroadapt.protocol.sham import ShamTrace, load_sham

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
