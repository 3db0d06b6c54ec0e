"""Take the recording machine's identity out of an XDF file's stream headers.

liblsl writes the host name and network addresses of the computer that made
each stream into its header, and LabRecorder copies those headers into the
XDF file. A host name can be a person's name ("marie-laptop"), and an address
identifies a machine, so a finished session's ``session.xdf`` gets them
replaced. Samples, timestamps, clock offsets and footers are copied byte for
byte; only the StreamHeader chunks change.

The rewrite never risks the recording: the new file is written beside the
old one, checked (same chunks, same data bytes), flushed to disk, and only
then put in its place. If anything fails, the original stays as it was.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from neuroadapt.errors import RecorderError
from neuroadapt.record.xdfio import scan_xdf

#: Header fields replaced, and what they become.
SCRUBBED = {
    "hostname": "anonymised",
    "v4address": "",
    "v6address": "",
}
_FIELD = re.compile(rb"<(" + b"|".join(k.encode() for k in SCRUBBED) + rb")>([^<]*)</\1>")
_STREAM_HEADER = 2


def _varlen(n: int) -> bytes:
    """XDF's variable-length chunk length: a byte giving the width, then the value."""
    if n < 256:
        return bytes([1]) + struct.pack("<B", n)
    if n < 2**32:
        return bytes([4]) + struct.pack("<I", n)
    return bytes([8]) + struct.pack("<Q", n)


def _scrub_xml(xml: bytes) -> bytes:
    return _FIELD.sub(
        lambda m: b"<%s>%s</%s>" % (m.group(1), SCRUBBED[m.group(1).decode()].encode(), m.group(1)),
        xml,
    )


def anonymise_xdf(path: Path) -> int:
    """Replace host names and addresses in the stream headers of an XDF file.

    Parameters
    ----------
    path : Path
        The ``.xdf`` file; rewritten in place (atomically) when anything changes.

    Returns
    -------
    n : int
        Number of stream headers changed (0 leaves the file untouched).

    Raises
    ------
    RecorderError
        If the file cannot be read or rewritten; the original is then unchanged.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        scan = scan_xdf(data)
    except (OSError, ValueError) as exc:
        raise RecorderError(f"{path}: cannot anonymise ({exc})") from None
    parts: list[bytes] = [data[:4]]  # the magic
    pos = 4
    changed = 0
    for chunk in scan.chunks:
        raw = data[chunk.offset : chunk.end]
        if chunk.tag == _STREAM_HEADER:
            width = raw[0]
            head = 1 + width + 2 + 4  # length field, tag, stream id
            xml = raw[head:]
            new = _scrub_xml(xml)
            if new != xml:
                changed += 1
                raw = _varlen(2 + 4 + len(new)) + raw[1 + width : head] + new
        parts.append(raw)
        pos = chunk.end
    if not changed:
        return 0
    parts.append(data[pos:])  # a cut last chunk, if any, is kept as it was
    tmp = path.with_name(path.name + ".anon")
    try:
        new_data = b"".join(parts)
        check = scan_xdf(new_data)
        same = len(check.chunks) == len(scan.chunks) and all(
            a.tag == b.tag
            and a.n_samples == b.n_samples
            and (a.tag == _STREAM_HEADER or data[a.offset : a.end] == new_data[b.offset : b.end])
            for a, b in zip(scan.chunks, check.chunks, strict=True)
        )
        if not same:
            raise RecorderError(f"{path}: anonymised copy differs in its data; kept the original")
        with open(tmp, "wb") as fh:
            fh.write(new_data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RecorderError(f"{path}: cannot anonymise ({exc.strerror})") from None
    return changed


__all__ = ["SCRUBBED", "anonymise_xdf"]
