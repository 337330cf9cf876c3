#!/usr/bin/env python3
"""Every setting the programs read is in .env.example with its default: the options table of
common/config.c and every variable read with getenv() (or the remote backend's env()) in the C
sources, but HOME. Run by ctest as layout/env_example.
  check_env_example.py SOURCE_ROOT"""
import pathlib
import re
import sys

NOT_SETTINGS = {"HOME"}


def main(root):
    root = pathlib.Path(root)
    names = set(re.findall(r'\b(?:STR|INT|LONG|DBL)\("([A-Z][A-Z0-9_]*)"',
                           (root / "common" / "config.c").read_text()))
    for src in root.glob("**/*.c"):
        if "build" in src.parts[len(root.parts):][0]:
            continue
        names |= set(re.findall(r'\b(?:getenv|env)\("([A-Z][A-Z0-9_]*)"\)', src.read_text()))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (root / ".env.example").read_text(), re.M))
    missing = sorted(names - NOT_SETTINGS - documented)
    if missing:
        print(".env.example lacks: " + ", ".join(missing))
        return 1
    print(f".env.example: {len(names - NOT_SETTINGS)} settings, all documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
