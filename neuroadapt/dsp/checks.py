"""Argument checks shared by the DSP classes (messages name the argument and value)."""

from __future__ import annotations

import math

import numpy as np


def positive(value: float, name: str) -> float:
    """Return ``value`` as a float after checking it is finite and > 0.

    Raises
    ------
    TypeError
        If it is not a number.
    ValueError
        If it is not finite or not above 0.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def finite_chunk(chunk: np.ndarray, n_channels: int, state: str) -> np.ndarray:
    """A chunk as float64 of shape (n_samples, n_channels), refusing NaN and Inf.

    Parameters
    ----------
    chunk : array of shape (n_samples, n_channels)
        New samples.
    n_channels : int
        The channel count the caller was built for.
    state : str
        What the caller keeps between chunks (``"filter"``, ``"envelope"``), for
        the message saying it was left unchanged.

    Raises
    ------
    ValueError
        On a wrong shape or a non-finite value.
    """
    chunk = np.asarray(chunk, dtype=np.float64)
    if chunk.ndim != 2 or chunk.shape[1] != n_channels:
        raise ValueError(
            f"chunk must have shape (n_samples, {n_channels}), got shape {chunk.shape}"
        )
    if not np.isfinite(chunk).all():
        raise ValueError(f"chunk holds NaN or Inf; the {state} state was left unchanged")
    return chunk
