"""`make package`: the zip that `func azure functionapp publish` would upload.

The files are chosen by `.funcignore` (the list Core Tools reads), so the package and a
publish from Core Tools leave out the same things: local development, tests, state,
virtual environments. `requirements.txt` goes in; Azure installs it (remote build).
"""

from __future__ import annotations

import fnmatch
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

from payout_core.settings import PROJECT_ROOT

FUNCIGNORE = ".funcignore"
DEFAULT_OUTPUT = PROJECT_ROOT / "dist" / "shiftpay-payout.zip"


def read_patterns(root: Path) -> list[str]:
    lines = (root / FUNCIGNORE).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(relative_path: str, is_dir: bool, patterns: list[str]) -> bool:
    """gitignore's common cases: `name/` matches folders anywhere, `a/b` is anchored at the
    root, anything else matches a file or folder name anywhere (with * and ?)."""
    name = relative_path.rsplit("/", 1)[-1]
    for pattern in patterns:
        folder_only = pattern.endswith("/")
        bare = pattern.rstrip("/")
        if folder_only and not is_dir:
            continue
        if "/" in bare:
            if fnmatch.fnmatchcase(relative_path, bare.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, bare):
            return True
    return False


def package_files(root: Path = PROJECT_ROOT) -> Iterator[Path]:
    """Every file of the app that .funcignore does not leave out, in a stable order."""
    patterns = read_patterns(root)

    def walk(folder: Path) -> Iterator[Path]:
        for entry in sorted(folder.iterdir()):
            relative = entry.relative_to(root).as_posix()
            if is_ignored(relative, entry.is_dir(), patterns):
                continue
            if entry.is_dir():
                yield from walk(entry)
            elif entry.is_file():
                yield entry

    yield from walk(root)


def build_package(output: Path = DEFAULT_OUTPUT, root: Path = PROJECT_ROOT) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in package_files(root):
            archive.write(path, path.relative_to(root).as_posix())
    return output


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    output = build_package(Path(arguments[0]) if arguments else DEFAULT_OUTPUT)
    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
    size_bytes = output.stat().st_size
    print(f"{output}: {len(names)} files, {size_bytes:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
