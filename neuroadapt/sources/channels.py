"""Channel names from different EEG systems, mapped onto 10-20 / 10-10 / 10-5 labels.

Recordings name the same electrode in many ways: BCI2000 pads labels with dots
(``O1..``, ``Fc5.``), clinical EDF files add a type prefix and a reference
suffix (``EEG Fp1-REF``, ``EEG FP1-LE``), some software writes everything in
capitals (``FZ``, ``FP1``). :func:`normalise_channel` maps all of these onto the
label with the standard capitalisation (``O1``, ``FC5``, ``Fp1``, ``Fz``).

The canonical labels are the channel names of MNE's ``standard_1005`` montage
(called ``colin27_1005`` since MNE 1.13): 343 labels, which include the 10-20
and 10-10 positions and the mastoids and earlobes ``M1``, ``M2``, ``A1``, ``A2``.
A name that does not map onto one of them (``EEG 001``, ``S1``, ``TRG``,
``Fp1-F7``) is kept exactly as it was.

The old 10-20 temporal names are kept as written: ``T3``, ``T4``, ``T5`` and
``T6`` name the same sites as the 10-10 ``T7``, ``T8``, ``P7`` and ``P8``, and
both spellings are in ``standard_1005``. Renaming them would change what a
recording says about itself, so normalisation leaves them alone;
:data:`ALIASES` lets :func:`match_channels` find ``T7`` in a recording that
says ``T3`` (and the reverse).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from neuroadapt.errors import NeuroadaptError

__all__ = [
    "ALIASES",
    "RecordingError",
    "canonical_labels",
    "match_channels",
    "normalise_channel",
    "normalise_channels",
    "resolve_montage",
]


class RecordingError(NeuroadaptError):
    """A recording cannot be read or does not have what was asked of it.

    The message is one line that names the file (or stream) and what is wrong.
    """


# Old 10-20 temporal names and their 10-10 equivalents (Acharya et al., ACNS
# guideline 2 (2006)), in both directions: used only for matching.
ALIASES: dict[str, str] = {
    "T3": "T7",
    "T4": "T8",
    "T5": "P7",
    "T6": "P8",
    "T7": "T3",
    "T8": "T4",
    "P7": "T5",
    "P8": "T6",
}

# "EEG Fp1", "EEG-Fp1", "eeg_fp1": a channel-type prefix written by clinical
# systems (EDF, TUH corpus) before the electrode name.
_TYPE_PREFIX = re.compile(r"^EEG[\s_:-]+", re.IGNORECASE)
# "Fp1-REF", "FP1-LE", "Cz-AVG": a reference written after the name. Only these
# words are stripped, because "Fp1-F7" is a bipolar derivation, not a label.
_REF_SUFFIX = re.compile(r"\s*-\s*(REF|LE|AR|AVG|CAR)$", re.IGNORECASE)


# MNE 1.13 renamed the ``standard_*`` montages to ``colin27_*`` (same labels and
# positions) and drops the old names in 1.14; the project supports MNE >= 1.8,
# which knows only the old ones. Either spelling is accepted and translated to
# the one the installed MNE knows.
_MONTAGE_RENAMES = {
    "standard_1005": "colin27_1005",
    "standard_1020": "colin27_1020",
    "standard_alphabetic": "colin27_alphabetic",
    "standard_postfixed": "colin27_postfixed",
    "standard_prefixed": "colin27_prefixed",
    "standard_primed": "colin27_primed",
}


@cache
def resolve_montage(name: str) -> str | None:
    """The name under which the installed MNE knows a built-in montage.

    Parameters
    ----------
    name : str
        A built-in montage name, old (``standard_1020``) or new (``colin27_1020``).

    Returns
    -------
    str or None
        ``name`` or its other spelling, whichever MNE lists; None if neither.
    """
    import mne

    builtin = set(mne.channels.get_builtin_montages())
    if name in builtin:
        return name
    renamed = {**_MONTAGE_RENAMES, **{new: old for old, new in _MONTAGE_RENAMES.items()}}
    other = renamed.get(name)
    return other if other in builtin else None


@cache
def _canonical_by_upper() -> dict[str, str]:
    """Map of upper-case label to the label as written in ``standard_1005``."""
    import mne

    montage = resolve_montage("standard_1005")
    if montage is None:  # pragma: no cover - every supported MNE ships it
        raise RuntimeError("MNE has no standard_1005 / colin27_1005 montage")
    names = mne.channels.make_standard_montage(montage).ch_names
    return {n.upper(): n for n in names}


def canonical_labels() -> frozenset[str]:
    """The labels that names are normalised onto (``standard_1005``'s channel names)."""
    return frozenset(_canonical_by_upper().values())


def normalise_channel(name: str) -> str:
    """Map one channel name onto its 10-20 / 10-10 label, case-insensitively.

    Strips surrounding white space, trailing dots (BCI2000), an ``EEG`` type
    prefix and a ``-REF``, ``-LE``, ``-AR``, ``-AVG`` or ``-CAR`` reference
    suffix, then looks the rest up among the ``standard_1005`` labels.

    Parameters
    ----------
    name : str
        A channel name as a recording gives it.

    Returns
    -------
    str
        The label with its standard capitalisation (``"EEG FP1-REF"`` ->
        ``"Fp1"``, ``"Fcz."`` -> ``"FCz"``), or ``name`` unchanged when it does
        not map onto a known label.
    """
    stripped = name.strip().rstrip(".").strip()
    stripped = _TYPE_PREFIX.sub("", stripped)
    stripped = _REF_SUFFIX.sub("", stripped)
    return _canonical_by_upper().get(stripped.upper(), name)


def normalise_channels(names: Sequence[str], *, where: str = "") -> list[str]:
    """Normalise every name of a recording; refuse two channels that become one.

    Parameters
    ----------
    names : sequence of str, length n_channels
        Channel names in column order.
    where : str
        What the names belong to (``"recording S001R01.edf"``), for the message.

    Returns
    -------
    list of str, length n_channels
        The normalised names, in the same order.

    Raises
    ------
    RecordingError
        If two channels have the same name after normalisation; the message
        names both originals.
    """
    out = [normalise_channel(n) for n in names]
    first: dict[str, int] = {}
    for i, label in enumerate(out):
        key = label.casefold()
        if key in first:
            j = first[key]
            prefix = f"{where}: " if where else ""
            raise RecordingError(
                f"{prefix}channels {names[j]!r} (#{j + 1}) and {names[i]!r} (#{i + 1}) "
                f"both normalise to {label!r}"
            )
        first[key] = i
    return out


def match_channels(wanted: Sequence[str], available: Sequence[str], where: str) -> list[int]:
    """Find each wanted channel among the available ones.

    Both sides are normalised and compared case-insensitively; when a name is
    missing, its :data:`ALIASES` spelling is tried (``T7`` finds ``T3``).

    Parameters
    ----------
    wanted : sequence of str
        The channels asked for (from a protocol or a user).
    available : sequence of str, length n_channels
        The channels of the recording or stream, in column order.
    where : str
        What ``available`` belongs to, as the message should say it
        (``"recording S001R01.edf"``).

    Returns
    -------
    list of int, length len(wanted)
        Column index in ``available`` of each wanted channel.

    Raises
    ------
    RecordingError
        Naming every missing channel and listing the available ones, e.g.
        ``recording S001R01.edf has no channel 'Pz2' (it has: Fc5, Fc3, ...)``.
    """
    labels = normalise_channels(available, where=where)
    index = {label.casefold(): i for i, label in enumerate(labels)}
    found: list[int] = []
    missing: list[str] = []
    for name in wanted:
        label = normalise_channel(name)
        i = index.get(label.casefold())
        if i is None and label in ALIASES:
            i = index.get(ALIASES[label].casefold())
        if i is None:
            missing.append(name)
        else:
            found.append(i)
    if missing:
        what = "channel" if len(missing) == 1 else "channels"
        raise RecordingError(
            f"{where} has no {what} {', '.join(repr(m) for m in missing)} "
            f"(it has: {', '.join(labels) or 'no channels'})"
        )
    return found
