#!/usr/bin/env python3
"""Fills the code snippets of docs/guide/*.md from the compiled programs they quote.

A snippet in a guide page is a marker comment followed by a fenced code block:

    <!-- snippet: examples/sync/bank_counter.cpp from "tether::Task<void> teller(" to "^}" -->
    ```cpp
    ...
    ```

The block is the source file's lines from the first line containing the `from` text up to and
including the first line after it that matches the `to` regular expression, with their common
indentation removed. The file must be one that the build compiles (examples/, tests/, apps/), so
every snippet in the guide is code that compiles and runs in CI.

Without arguments the blocks are rewritten; `--check` exits 1 if any block differs from its
source, or if an anchor is no longer found (run by the tests: docs.guide_snippets_match_sources).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide"
MARKER = re.compile(r'^<!-- snippet: (\S+) from "(.*?)" to "(.*?)" -->$')
COMPILED = ("examples/", "tests/", "apps/")


def extract(path, start, end):
    src = ROOT / path
    if not path.startswith(COMPILED):
        raise ValueError(f"{path}: not a compiled source (examples/, tests/ or apps/)")
    if not src.exists():
        raise ValueError(f"{path}: no such file")
    lines = src.read_text().splitlines()
    first = next((i for i, line in enumerate(lines) if start in line), None)
    if first is None:
        raise ValueError(f'{path}: no line contains "{start}"')
    end_re = re.compile(end)
    last = next((i for i in range(first, len(lines)) if end_re.search(lines[i])), None)
    if last is None:
        raise ValueError(f'{path}: no line after "{start}" matches /{end}/')
    body = lines[first:last + 1]
    indent = min((len(l) - len(l.lstrip()) for l in body if l.strip()), default=0)
    return [l[indent:] for l in body]


def process(page):
    """Returns (new text, errors) for one page."""
    lines = page.read_text().splitlines()
    out, errors, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = MARKER.match(line.strip())
        i += 1
        if not m:
            continue
        if i >= len(lines) or not lines[i].startswith("```"):
            errors.append(f"{page.name}: snippet marker not followed by a code block: {line}")
            continue
        fence = lines[i]
        j = i + 1
        while j < len(lines) and lines[j] != "```":
            j += 1
        try:
            body = extract(*m.groups())
        except ValueError as e:
            errors.append(f"{page.name}: {e}")
            body = lines[i + 1:j]
        out.append(fence)
        out.extend(body)
        out.append("```")
        i = j + 1
    return "\n".join(out) + "\n", errors


def main():
    check = "--check" in sys.argv
    stale, errors = [], []
    pages = sorted(GUIDE.glob("*.md"))
    for page in pages:
        text, errs = process(page)
        errors += errs
        if text != page.read_text():
            stale.append(page.name)
            if not check:
                page.write_text(text)
    for e in errors:
        print(e, file=sys.stderr)
    if check and stale:
        print("guide snippets differ from their sources in: " + ", ".join(stale) +
              " (run scripts/gen-guide-snippets.py)", file=sys.stderr)
        return 1
    if errors:
        return 1
    if check:
        print(f"{len(pages)} guide pages: every snippet matches its compiled source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
