#!/usr/bin/env python3
"""Size limits for the C++ a reader has to take in at once (docs/architecture.md):
no file outside tests/ over 400 lines, no function outside tests/ over 60 lines.

A function is a brace block whose opening is preceded by a parameter list and that sits at
namespace or class level; lambdas and blocks inside it count towards it. Comments and string
literals are ignored when braces are counted. Prints every breach and exits 1 if there is one.

    scripts/check_sizes.py [ROOT] [--max-file N] [--max-function N] [--report]
"""
import argparse
import pathlib
import re
import sys

SKIP = {"tests", "build", "fuzz", ".git", "results", "reports", "third_party"}
NOT_FUNCTIONS = re.compile(r"^\s*(if|for|while|switch|catch|else|do|try|namespace|class|struct|union|enum|extern)\b")
SCOPES = re.compile(r"\b(namespace|class|struct|union|extern\s+\"C\")\b[^()]*$")


def strip(text: str) -> str:
    """Blanks out comments, string and character literals, keeping line breaks."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            end = ')' + (m.group(1) if m else '') + '"'
            j = text.find(end, i + 2)
            j = n if j < 0 else j + len(end)
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # a digit separator: 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append(c + c)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text: str):
    """Yields (name, first line, line count) for each function at namespace or class level."""
    code = strip(text)
    stack = []  # per open brace: (kind, first line, name), kind "scope", "function" or "block"
    start = 0   # where the text before the next brace starts
    for i, c in enumerate(code):
        if c in ";":
            if not stack or stack[-1][0] == "scope":
                start = i + 1
        elif c == "{":
            head = code[start:i]
            inside_function = any(entry[0] == "function" for entry in stack)
            if inside_function:
                stack.append(("block", 0, ""))
            elif SCOPES.search(head.split(")")[-1]) and ")" not in head.split("{")[-1].split("=")[0][-1:]:
                stack.append(("scope", 0, ""))
            elif ")" in head and not NOT_FUNCTIONS.match(head.strip().splitlines()[-1] if head.strip() else ""):
                name = re.findall(r"([~\w:]+(?:operator\S*)?)\s*\(", head)
                stack.append(("function", code.count("\n", 0, i) + 1, name[0] if name else "?"))
            else:
                stack.append(("scope" if not head.strip() or "=" not in head else "block", 0, ""))
            start = i + 1
        elif c == "}":
            if stack:
                kind, line, name = stack.pop()
                if kind == "function":
                    yield name, line, code.count("\n", 0, i) + 1 - line + 1
            if not stack or stack[-1][0] == "scope":
                start = i + 1
    return


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=pathlib.Path(__file__).resolve().parent.parent)
    ap.add_argument("--max-file", type=int, default=400)
    ap.add_argument("--max-function", type=int, default=60)
    ap.add_argument("--report", action="store_true", help="also list the ten longest functions")
    a = ap.parse_args()
    root = pathlib.Path(a.root)
    breaches, longest = [], []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix not in {".cpp", ".hpp", ".h"} or SKIP & set(rel.parts):
            continue
        text = path.read_text(errors="replace")
        lines = text.count("\n")
        if lines > a.max_file:
            breaches.append(f"{rel}: {lines} lines (the limit is {a.max_file})")
        for name, line, length in functions(text):
            longest.append((length, f"{rel}:{line} {name}"))
            if length > a.max_function:
                breaches.append(f"{rel}:{line}: {name} is {length} lines (the limit is {a.max_function})")
    if a.report:
        for length, where in sorted(longest, reverse=True)[:10]:
            print(f"{length:4d}  {where}")
    for b in breaches:
        print(b)
    print(f"{len(breaches)} over the limits")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
