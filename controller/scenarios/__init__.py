"""Bundled scenario data (one directory per scenario; loaded by controller.scenario)."""
