"""Checks the Lambda deployment zip scripts/package built: it holds `bootstrap`, an arm64
Linux executable, and the rule files; prints its size and fails above the size budget.

Usage: check_package.py ZIP
"""

import pathlib
import sys
import zipfile

BUDGET_BYTES = 8 * 1024 * 1024
EM_AARCH64 = 183


def main():
    path = pathlib.Path(sys.argv[1])
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for required in ("bootstrap", "rules/responder.toml"):
            if required not in names:
                raise SystemExit(f"{path}: no {required} (it holds {sorted(names)})")
        info = archive.getinfo("bootstrap")
        if (info.external_attr >> 16) & 0o111 == 0:
            raise SystemExit(f"{path}: bootstrap is not executable")
        head = archive.read("bootstrap")[:20]
    if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != EM_AARCH64:
        raise SystemExit(f"{path}: bootstrap is not an arm64 ELF executable")
    size = path.stat().st_size
    print(
        f"package {path}: {size} bytes ({size / 1024 / 1024:.2f} MiB), "
        f"{len(names)} files, bootstrap {info.file_size} bytes unpacked"
    )
    if size > BUDGET_BYTES:
        raise SystemExit(f"{path} is over the {BUDGET_BYTES} byte budget")


if __name__ == "__main__":
    main()
