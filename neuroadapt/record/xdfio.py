"""XDF files read chunk by chunk, so a cut or damaged file loses only what is gone.

An XDF 1.0 file (https://github.com/sccn/xdf/wiki/Specifications) is the magic
``XDF:`` followed by chunks::

    [NumLengthBytes: 1, 4 or 8][Length: that many bytes, little-endian][Tag: uint16][Content]

``Length`` counts the tag and the content. Tags: 1 FileHeader (XML), 2 StreamHeader
(StreamId + XML), 3 Samples (StreamId, a variable-length sample count, then per
sample a timestamp flag 0 or 8, the optional float64 timestamp and the values:
little-endian numbers, or per channel a variable-length byte count and the
bytes of a string), 4 ClockOffset (StreamId, two float64), 5 Boundary (a fixed
16-byte UUID), 6 StreamFooter (StreamId + XML).

:func:`scan_xdf` walks this structure without decoding values and checks that
each chunk is whole and consistent: the samples of a Samples chunk must fill it
exactly, the XML must parse, the stream must have a header. It stops at the
first chunk that is cut by the end of the file or damaged.

:func:`load_xdf_robust` scans first, because pyxdf does not always fail on a
cut file: a file cut inside the values of the last sample of a chunk is read
with that sample's values partly taken from the previous sample, without any
warning. Then:

- a file whose chunks are all whole is read by ``pyxdf.load_xdf`` itself;
- otherwise ``pyxdf.load_xdf`` reads only the whole chunks before the cut or
  the damage (the file is not copied: pyxdf sees a view that ends there), so
  clock synchronisation and dejitter are pyxdf's, on the samples recovered.

Either way the result is what pyxdf returns, plus notes that say what was cut.
A Samples chunk that is cut is left out whole: the last sample returned is
always one the recorder wrote completely.
"""

from __future__ import annotations

import io
import mmap
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias
from xml.etree.ElementTree import Element, ParseError, fromstring

import numpy as np

from neuroadapt.sources.channels import RecordingError

__all__ = [
    "CHUNK_TAGS",
    "Chunk",
    "RecoveredXdf",
    "StreamHeader",
    "XdfScan",
    "load_xdf_robust",
    "scan_xdf",
]

MAGIC = b"XDF:"
#: Chunk tag -> name in the XDF 1.0 specification.
CHUNK_TAGS: dict[int, str] = {
    1: "FileHeader",
    2: "StreamHeader",
    3: "Samples",
    4: "ClockOffset",
    5: "Boundary",
    6: "StreamFooter",
}
_WITH_STREAM_ID = (2, 3, 4, 6)
# The UUID every Boundary chunk holds (XDF specification).
BOUNDARY_UUID = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")
_ITEM_SIZE = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "double64": 8}
_VARLEN = {1: "<B", 4: "<I", 8: "<Q"}
_GZIP_BLOCK = 1 << 20

#: What the scanner reads: the whole file in memory.
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap


# ------------------------------------------------------------------ scan results
@dataclass(frozen=True)
class StreamHeader:
    """What the scan needs of a StreamHeader: enough to walk its samples and name it."""

    stream_id: int
    name: str
    channel_format: str
    channel_count: int


@dataclass(frozen=True)
class Chunk:
    """One whole chunk of an XDF file.

    Attributes
    ----------
    offset : int
        Byte of its length field.
    end : int
        Byte just after it.
    tag : int
        Its tag (:data:`CHUNK_TAGS`).
    stream_id : int or None
        For StreamHeader, Samples, ClockOffset and StreamFooter chunks.
    n_samples : int
        Samples in a Samples chunk, else 0.
    """

    offset: int
    end: int
    tag: int
    stream_id: int | None = None
    n_samples: int = 0


@dataclass
class XdfScan:
    """The structure of an XDF file, up to its first cut or damaged chunk.

    Attributes
    ----------
    size : int
        Bytes in the file (after decompression for ``.xdfz``).
    chunks : list of Chunk
        Every whole chunk, in file order, up to the first bad one.
    headers : dict of int to StreamHeader
        The streams whose StreamHeader is among ``chunks``, by stream id.
    footers : set of int
        The stream ids whose StreamFooter is among ``chunks``.
    problem : {"cut", "damaged"} or None
        Why the scan stopped before the end of the file, None if it did not.
    problem_offset : int
        Byte where the bad chunk starts (its length field).
    problem_tag : int or None
        Its tag, if that much could be read.
    problem_stream : int or None
        Its stream id, if that much could be read.
    reason : str
        What is wrong with it, for messages.
    """

    size: int
    chunks: list[Chunk] = field(default_factory=list)
    headers: dict[int, StreamHeader] = field(default_factory=dict)
    footers: set[int] = field(default_factory=set)
    problem: str | None = None
    problem_offset: int = 0
    problem_tag: int | None = None
    problem_stream: int | None = None
    reason: str = ""

    @property
    def good_end(self) -> int:
        """Byte just after the last whole chunk (4, after the magic, if there is none)."""
        return self.chunks[-1].end if self.chunks else len(MAGIC)

    def samples_per_stream(self) -> dict[int, int]:
        """Samples in the whole chunks, by stream id."""
        counts = dict.fromkeys(self.headers, 0)
        for c in self.chunks:
            if c.tag == 3 and c.stream_id is not None:
                counts[c.stream_id] = counts.get(c.stream_id, 0) + c.n_samples
        return counts


class RecoveredXdf(NamedTuple):
    """What :func:`load_xdf_robust` returns; unpacks as ``streams, header, notes``.

    Attributes
    ----------
    streams : list of dict
        As ``pyxdf.load_xdf`` returns them, one per stream whose header is whole.
    header : dict or None
        The file header as pyxdf returns it.
    notes : list of str
        One line per thing cut, damaged or missing (empty for a whole file).
    """

    streams: list[dict[str, Any]]
    header: dict[str, Any] | None
    notes: list[str]


# ------------------------------------------------------------------ scanning
class _Cut(Exception):
    """The file ends inside the structure being read."""


class _Damaged(Exception):
    """The structure being read is inconsistent."""


def _varlen(buf: Buffer, pos: int, size: int) -> tuple[int, int]:
    """A variable-length integer at ``pos``: its value and the byte after it."""
    if pos >= size:
        raise _Cut("inside a variable-length integer")
    nbytes = buf[pos]  # type: ignore[index]
    fmt = _VARLEN.get(nbytes)
    if fmt is None:
        raise _Damaged(f"invalid length-field size {nbytes} (must be 1, 4 or 8)")
    if pos + 1 + nbytes > size:
        raise _Cut("inside a variable-length integer")
    return struct.unpack_from(fmt, buf, pos + 1)[0], pos + 1 + nbytes


def _xml(buf: Buffer, start: int, end: int, what: str) -> Element:
    text = bytes(memoryview(buf)[start:end]).decode("utf-8", "replace")
    try:
        return fromstring(text)
    except ParseError as exc:
        raise _Damaged(f"{what} XML does not parse ({exc})") from None


def _stream_header(stream_id: int, root: Element) -> StreamHeader:
    fmt = (root.findtext("channel_format") or "").strip()
    count = (root.findtext("channel_count") or "").strip()
    if fmt not in _ITEM_SIZE and fmt != "string":
        raise _Damaged(f"stream header gives an unknown channel_format {fmt!r}")
    if not count.isdigit():
        raise _Damaged(f"stream header gives channel_count {count!r}")
    name = (root.findtext("name") or "").strip() or f"stream {stream_id}"
    return StreamHeader(stream_id, name, fmt, int(count))


def _all_equal(buf: Buffer, pos: int, n: int, stride: int, value: int) -> bool:
    """Whether the bytes at ``pos + k * stride``, ``k < n``, all equal ``value``."""
    return bool(
        np.all(np.frombuffer(buf, np.uint8, count=n * stride, offset=pos)[::stride] == value)
    )


def _after_stamp(buf: Buffer, pos: int, size: int) -> int:
    """Byte after a sample's timestamp field (its size byte, then 0 or 8 bytes)."""
    if pos >= size:
        raise _Cut("inside a sample")
    flag = buf[pos]  # type: ignore[index]
    if flag not in (0, 8):
        raise _Damaged(f"invalid timestamp size {flag} (must be 0 or 8)")
    return pos + 1 + flag


def _walk_numeric(buf: Buffer, pos: int, n: int, item: int, size: int) -> int:
    """Byte after ``n`` numeric samples starting at ``pos`` (raises _Cut past ``size``)."""
    values = item
    # Fast path: recorders stamp every sample (LabRecorder) or none; check all
    # flags at once and fall back to the per-sample walk otherwise.
    for flag, stride in ((8, 9 + values), (0, 1 + values)):
        stop = pos + n * stride
        # No name holds the view: an mmap cannot close while a view of it lives.
        if stop <= size and n > 0 and _all_equal(buf, pos, n, stride, flag):
            return stop
    for _ in range(n):
        pos = _after_stamp(buf, pos, size) + values
        if pos > size:
            raise _Cut("inside a sample")
    return pos


def _walk_strings(buf: Buffer, pos: int, n: int, n_channels: int, size: int) -> int:
    """Byte after ``n`` string samples starting at ``pos`` (raises _Cut past ``size``)."""
    for _ in range(n):
        pos = _after_stamp(buf, pos, size)
        for _ in range(n_channels):
            length, pos = _varlen(buf, pos, size)
            pos += length
            if pos > size:
                raise _Cut("inside a string value")
    return pos


def _samples(buf: Buffer, body: int, end: int, size: int, header: StreamHeader) -> int:
    """Check a Samples chunk's content fills ``body..end``; returns its sample count."""
    n, pos = _varlen(buf, body, size)
    if header.channel_format == "string":
        stop = _walk_strings(buf, pos, n, header.channel_count, size)
    else:
        item = _ITEM_SIZE[header.channel_format] * header.channel_count
        stop = _walk_numeric(buf, pos, n, item, size)
    if stop != end:
        raise _Damaged(
            f"its {n} samples take {stop - body + 6} bytes but the chunk's length field "
            f"says {end - body + 6}"
        )
    return n


def scan_xdf(buf: Buffer) -> XdfScan:
    """Walk the chunks of an XDF file held in memory, stopping at the first bad one.

    Pure: no I/O. Values are not decoded; only the structure is checked.

    Parameters
    ----------
    buf : bytes-like
        The whole file, magic included (``bytes``, ``mmap`` or ``memoryview``).

    Returns
    -------
    XdfScan

    Raises
    ------
    ValueError
        If ``buf`` does not start with the XDF magic (or a part of it).
    """
    size = len(buf)  # type: ignore[arg-type]
    head = bytes(memoryview(buf)[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        raise ValueError("not an XDF file (no 'XDF:' at its start)")
    scan = XdfScan(size=size)
    if size < len(MAGIC):
        scan.problem, scan.reason = "cut", "inside the 'XDF:' magic"
        return scan
    pos = len(MAGIC)
    while pos < size:
        tag: int | None = None
        stream_id: int | None = None
        try:
            length, body = _varlen(buf, pos, size)
            if length < 2:
                raise _Damaged(f"chunk length {length} is too short for a tag")
            end = body + length
            if body + 2 > size:
                raise _Cut("inside the chunk tag")
            tag = struct.unpack_from("<H", buf, body)[0]
            if tag not in CHUNK_TAGS:
                raise _Damaged(f"unknown chunk tag {tag}")
            body += 2
            if tag in _WITH_STREAM_ID:
                if length < 6:
                    raise _Damaged(f"chunk length {length} is too short for a stream id")
                if body + 4 > size:
                    raise _Cut("inside the stream id")
                stream_id = struct.unpack_from("<I", buf, body)[0]
                body += 4
            if tag in (3, 4, 6) and stream_id not in scan.headers:
                raise _Damaged(f"stream id {stream_id} has no stream header before it")
            n_samples = 0
            if tag == 3:
                assert stream_id is not None
                try:
                    n_samples = _samples(buf, body, end, size, scan.headers[stream_id])
                except _Cut:
                    if end <= size:  # the content runs past its own chunk
                        raise _Damaged("its samples run past the chunk's end") from None
                    raise
            elif end > size:
                raise _Cut(f"{size - pos} of its {end - pos} bytes are present")
            elif tag == 1:
                _xml(buf, body, end, "file header")
            elif tag == 2:
                assert stream_id is not None
                if stream_id in scan.headers:
                    raise _Damaged(f"a second header for stream id {stream_id}")
                root = _xml(buf, body, end, "stream header")
                scan.headers[stream_id] = _stream_header(stream_id, root)
            elif tag == 4:
                if length != 22:
                    raise _Damaged(f"a ClockOffset chunk is 22 bytes long, this one {length}")
            elif tag == 5:
                if length != 18 or bytes(memoryview(buf)[body:end]) != BOUNDARY_UUID:
                    raise _Damaged("a Boundary chunk without the boundary UUID")
            else:  # 6
                _xml(buf, body, end, "stream footer")
                assert stream_id is not None
                scan.footers.add(stream_id)
        except (_Cut, _Damaged) as exc:
            scan.problem = "cut" if isinstance(exc, _Cut) else "damaged"
            scan.problem_offset, scan.problem_tag = pos, tag
            scan.problem_stream, scan.reason = stream_id, str(exc)
            return scan
        scan.chunks.append(Chunk(pos, end, tag, stream_id, n_samples))
        pos = end
    return scan


# ------------------------------------------------------------------ loading
class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a buffer as a read-only binary file, without a copy."""

    def __init__(self, buf: Buffer, limit: int) -> None:
        self._view = memoryview(buf)[:limit]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), len(self._view) - self._pos))
        b[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._view.release()
        super().close()


def _read_gzip(path: Path) -> tuple[bytes, str | None]:
    """Decompress what can be decompressed of ``path``; a note if the stream is cut."""
    out = bytearray()
    inflater = zlib.decompressobj(wbits=31)  # gzip container
    with open(path, "rb") as f:
        while block := f.read(_GZIP_BLOCK):
            try:
                out += inflater.decompress(block)
            except zlib.error as exc:
                return bytes(out), f"the gzip compression is damaged after byte {len(out)} ({exc})"
    if not inflater.eof:
        return bytes(out), "the gzip-compressed file is cut (the compressed stream has no end)"
    return bytes(out), None


def _names(scan: XdfScan, ids: Any) -> str:
    return ", ".join(repr(scan.headers[i].name) for i in ids if i in scan.headers)


def _problem_where(scan: XdfScan) -> str:
    """Where and how the scan stopped, for notes and errors."""
    if scan.problem_offset == 0:
        return f"file cut at byte {scan.size}, {scan.reason}"
    kind = CHUNK_TAGS.get(scan.problem_tag or 0, "")
    what = f"{kind} chunk" if kind else "chunk"
    sid = scan.problem_stream
    if sid is not None:
        stream = scan.headers.get(sid)
        what += f" of stream {stream.name!r}" if stream else f" of stream id {sid}"
    if scan.problem == "cut":
        return (
            f"file cut at byte {scan.size} inside a {what} that starts at byte "
            f"{scan.problem_offset} ({scan.reason})"
        )
    return f"a damaged {what} at byte {scan.problem_offset} ({scan.reason})"


def _problem_note(name: str, scan: XdfScan) -> str:
    if scan.problem == "cut":
        return f"{name}: {_problem_where(scan)}; that chunk is left out whole"
    return (
        f"{name}: {_problem_where(scan)}; reading stopped there, the "
        f"{scan.size - scan.problem_offset} bytes from there on are ignored"
    )


def _recovered_note(name: str, streams: list[dict[str, Any]]) -> str:
    parts = []
    for s in streams:
        stream_name = (s["info"].get("name") or ["?"])[0]
        stamps = s["time_stamps"]
        if len(stamps):
            count = f"{len(stamps)} sample" + ("s" if len(stamps) > 1 else "")
            parts.append(f"{stream_name!r} {count} up to t={stamps[-1]:.3f}")
        else:
            parts.append(f"{stream_name!r} no samples")
    return f"{name}: recovered every whole chunk before it: {'; '.join(parts)} (LSL clock)"


def load_xdf_robust(path: str | os.PathLike[str], **pyxdf_kwargs: Any) -> RecoveredXdf:
    """Read an XDF file with pyxdf, keeping every whole chunk of a cut or damaged file.

    Parameters
    ----------
    path : str or path-like
        An ``.xdf`` file, or a gzip-compressed ``.xdfz`` / ``.xdf.gz`` file.
    **pyxdf_kwargs
        Passed to ``pyxdf.load_xdf`` (``synchronize_clocks``, ``dejitter_timestamps``, ...).

    Returns
    -------
    RecoveredXdf
        ``streams, header, notes``. ``notes`` is empty for a whole, finished file.
        Otherwise it says where the file is cut or damaged, what was recovered, and
        which streams have no footer (a recorder that was killed writes none).

    Raises
    ------
    RecordingError
        If the file is missing, is not XDF, or no stream header is whole (nothing
        usable is left); the message is one line and names the file.
    """
    import pyxdf

    p = Path(path)
    notes: list[str] = []
    gz = p.suffix.lower() == ".xdfz" or p.name.lower().endswith(".xdf.gz")
    mapped: mmap.mmap | None = None
    try:
        if gz:
            buf: Buffer = b""
            try:
                buf, gz_note = _read_gzip(p)
            except OSError as exc:
                raise RecordingError(f"{p}: cannot read: {exc}") from None
            if gz_note:
                notes.append(f"{p.name}: {gz_note}")
        else:
            try:
                with open(p, "rb") as f:
                    if os.fstat(f.fileno()).st_size == 0:
                        raise RecordingError(f"{p}: the file is empty")
                    mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except OSError as exc:
                raise RecordingError(f"{p}: cannot read: {exc}") from None
            buf = mapped
        try:
            scan = scan_xdf(buf)
        except ValueError as exc:
            raise RecordingError(f"{p}: {exc}") from None
        if scan.problem is not None:
            notes.append(_problem_note(p.name, scan))
        if not scan.headers:
            where = _problem_where(scan) if scan.problem else "it has no StreamHeader chunk"
            raise RecordingError(f"{p}: no stream header is whole, nothing to read ({where})")
        whole = scan.problem is None and not notes
        try:
            if whole:
                streams, header = pyxdf.load_xdf(str(p), **pyxdf_kwargs)
            else:
                with io.BufferedReader(_Prefix(buf, scan.good_end)) as prefix:
                    streams, header = pyxdf.load_xdf(prefix, **pyxdf_kwargs)
        except Exception as exc:  # pyxdf raises many types on files it cannot use
            text = " ".join(str(exc).split()) or type(exc).__name__
            raise RecordingError(f"{p}: cannot read as XDF: {text}") from None
        if not whole:
            notes.append(_recovered_note(p.name, streams))
        missing = [i for i in scan.headers if i not in scan.footers]
        if missing and scan.problem is None:
            notes.append(
                f"{p.name}: no StreamFooter for {_names(scan, missing)}: the recorder did not "
                f"finish the file (it was stopped abruptly); every chunk in it is whole"
            )
        return RecoveredXdf(streams, header, notes)
    finally:
        if mapped is not None:
            mapped.close()
