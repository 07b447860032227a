"""The installed switch's version (from the package metadata)."""

from __future__ import annotations

from importlib import metadata


def switch_version() -> str:
    try:
        return metadata.version("edge-switch")
    except metadata.PackageNotFoundError:
        return "unknown"
