"""Compiled templates kept between processes: Jinja2's bytecode cache, keyed to the sandbox.

Compiling (parsing, the sandbox's bounding rewrite, code generation) is most of what
checking the templates costs at start-up and on every reload: about 7 ms a template,
against well under 1 ms to render one. Jinja2's ``FileSystemBytecodeCache`` keeps each
compiled template in a per-user directory only that user may write (Jinja2 refuses a
directory another user owns or can write), and reuses it while the template's source is
unchanged. Its key also carries a fingerprint of the sandbox's own code: the bounding
rewrite is part of the compiled code, so an upgrade that changes it compiles afresh, never
runs code bounded by an older sandbox.
"""

from __future__ import annotations

import contextlib
import hashlib
from importlib import metadata
from pathlib import Path

import jinja2
from jinja2 import BytecodeCache, FileSystemBytecodeCache
from jinja2.bccache import Bucket

_SANDBOX_SOURCES = ("sandbox.py", "guards.py", "filters.py")


def _fingerprint() -> str:
    digest = hashlib.sha256(jinja2.__version__.encode())
    here = Path(__file__).parent
    for name in _SANDBOX_SOURCES:
        path = here / name
        digest.update(path.read_bytes() if path.exists() else name.encode())
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("notifier").encode())
    return digest.hexdigest()[:16]


class SandboxBytecodeCache(FileSystemBytecodeCache):
    """Jinja2's file cache, its keys prefixed by the sandbox's fingerprint."""

    def __init__(self, directory: str | None = None) -> None:
        super().__init__(directory, pattern="__notifier_%s.cache")
        self.fingerprint = _fingerprint()

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"{self.fingerprint}:{name}", filename)

    def load_bytecode(self, bucket: Bucket) -> None:
        """Take the compiled template if one is kept; an unreadable cache is an empty one."""
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep the compiled template if the directory allows; a render never fails for it.

        The directory may be gone (a temp cleaner), full or read-only: the template was
        compiled all the same, and is compiled again by the next process.
        """
        try:
            Path(self.directory).mkdir(mode=0o700, parents=True, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def bytecode_cache(directory: Path | None = None) -> BytecodeCache | None:
    """The cache, or None where no safe per-user directory can be had (compile each time)."""
    try:
        return SandboxBytecodeCache(str(directory) if directory is not None else None)
    except (OSError, RuntimeError):  # Jinja2 found no directory only this user can write
        return None
