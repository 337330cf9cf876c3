#!/usr/bin/env python3
"""The include style of the C sources, which the include directories of CMakeLists.txt cannot
check by themselves: a project header is included by its path from the source root
("common/log.h", "worker/sandbox/cgroup.h"), never relative to the including file ("../", or a
sibling's bare name, which the compiler finds next to the file whatever the target may see);
the one exception is a .c file's own header, included first by its bare name.
Usage: check_includes.py SOURCE_DIR   (prints each violation; exit status 1 if any)"""
import pathlib
import re
import subprocess
import sys

LAYERS = ("common/", "api/", "worker/", "tests/")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def problems(root, rel):
    path = root / rel
    text = path.read_text()
    all_includes = re.findall(r'^\s*#\s*include\s*[<"]([^">]+)[">]', text, re.M)
    own = path.with_suffix(".h").name if path.suffix == ".c" else None
    for name in INCLUDE.findall(text):
        if name == own:
            if all_includes[0] != own:
                yield f"{rel}: its own header {own} is not its first include"
        elif not name.startswith(LAYERS) or ".." in name.split("/"):
            yield f'{rel}: #include "{name}" is not a path from the source root'
        elif not (root / name).is_file():
            yield f'{rel}: #include "{name}": no such file in the tree'


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    files = subprocess.run(["git", "-C", str(root), "ls-files", "*.c", "*.h"], check=True,
                           capture_output=True, text=True).stdout.split()
    # the hostile corpus is sandbox input, not project code
    found = [p for rel in files if not rel.startswith("tests/hostile/")
             for p in problems(root, rel)]
    print("\n".join(found) if found else f"include style: {len(files)} files checked, all fine")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
