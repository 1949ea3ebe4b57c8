"""The Lark parser, built once per machine and loaded from a cache file on every start.

Building the LALR tables takes longer than everything else a one-line
`gradcli grad` does; loading them takes about a millisecond. The cache file
lives in `$XDG_CACHE_HOME/gradcli` (else `~/.cache/gradcli`), named by a hash
of the grammar, the parser options, Lark's version and Python's, so a change to
any of them picks a new file. The file holds `Lark.save()`'s data after a
header line with that key and a SHA-256 digest of the data.

Safe by construction:
- the file is written to a temporary name in the same directory and moved into
  place with `os.replace`, so a reader sees either no file or a complete one,
  however many processes start at once (each one that finds no file builds its
  parser and publishes an equivalent file; the last rename wins);
- a file that is missing, truncated, corrupt or from another version fails the
  header or digest check (or Lark's own loading) and the parser is built in
  memory, and the file replaced when the directory is writable;
- a read-only or unusable cache directory (or no home directory) means
  building in memory on every start: slower, never an error or a warning.

Lark's own `cache=` option is not used: it writes its file in place (a reader
can see half a file) and logs through the `lark` logger when it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from lark import Lark
from lark import __version__ as lark_version

FORMAT = b"gradcli-parser-cache 1"
# Options chosen at load time, not stored: they hold our callbacks.
RUNTIME_OPTIONS = ("transformer", "postlex")


def cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/gradcli, else ~/.cache/gradcli; None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: relative paths are ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "gradcli"


def cache_key(grammar: str, options: dict[str, Any]) -> str:
    text = "\0".join([grammar, repr(sorted(options.items())), lark_version, sys.version])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def cache_file(grammar: str, options: dict[str, Any]) -> Path | None:
    directory = cache_dir()
    return None if directory is None else directory / f"parser-{cache_key(grammar, options)}.lark"


def _read(path: Path, key: str) -> dict[str, Any] | None:
    """The saved parser data, or None when the file is missing or not exactly ours."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    header, _, payload = blob.partition(b"\n")
    if header != FORMAT + b" " + key.encode() + b" " + hashlib.sha256(payload).hexdigest().encode():
        return None
    try:
        data = pickle.loads(payload)
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def _write(path: Path, key: str, parser: Lark) -> None:
    """Publish the parser's data atomically; any failure (read-only directory...) is ignored."""
    import tempfile

    buf = io.BytesIO()
    parser.save(buf, RUNTIME_OPTIONS)
    payload = buf.getvalue()
    blob = (
        FORMAT + b" " + key.encode() + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    )
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".parser-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _load(data: dict[str, Any], runtime: dict[str, Any]) -> Lark | None:
    try:
        # Lark.load() takes no options; this is the call Lark's own cache makes to
        # attach the transformer and post-lexer to saved tables.
        return Lark.__new__(Lark)._load(data, **runtime)
    except Exception:
        return None


_loaded: dict[str, dict[str, Any]] = {}  # key -> data read this process (several parsers share it)


def load_or_build(grammar: str, options: dict[str, Any], **runtime: Any) -> Lark:
    """`Lark(grammar, **options, **runtime)`, from the cache file when there is a good one.

    `runtime` holds the options that are not saved (transformer, postlex)."""
    key = cache_key(grammar, options)
    path = cache_file(grammar, options)
    data = _loaded.get(key)
    if data is None and path is not None:
        data = _read(path, key)
    if data is not None:
        parser = _load(data, runtime)
        if parser is not None:
            _loaded[key] = data
            return parser
    parser = Lark(grammar, **options, **runtime)
    if path is not None:
        _write(path, key, parser)
    return parser
