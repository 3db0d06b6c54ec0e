"""Recording: LabRecorder process, session folders, reports."""
