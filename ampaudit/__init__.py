"""ampaudit: audit how recommenders amplify violent extremist content.

See the README for the quick start; :func:`ampaudit.audit.run_audit` is the
Python entry point.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ampaudit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
