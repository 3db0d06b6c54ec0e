"""The therapist console: a local web page for a running session.

``neuroadapt console`` serves one page (no external assets) that shows the
engine's state live over a websocket and sends the therapist's actions to the
engine, which records each as a marker. See ``docs/console.md``.
"""
