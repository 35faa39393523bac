#!/usr/bin/env python3
"""layers.py - the import structure of daemon/, checked.

Computes which daemon/*.c file calls which by name (a non-static function
defined in one file and named in another) and fails when a file names a
function of its own layer or of a layer above it, so the graph stays
acyclic and the server core keeps its layers (docs/design.md, "Layers of
daemon/"). A lower layer that must tell a higher one something calls a
hook it was given (conn.c: struct conn_hooks); hooks are not names.

    python3 tools/layers.py [--graph] [REPO_ROOT]

--graph prints every file's calls by name. Exit 0: the layers hold; 1: a
call goes sideways or up (each printed); 2: a file in daemon/ has no layer
here, or one listed here is missing.
"""
import os
import re
import sys

# Bottom up. A file may name functions of lower layers only: not of its
# own layer (files of one layer are independent), not of a higher one.
# osdep-linux.c and osdep-darwin.c define the same functions: "osdep".
LAYERS = [
    # the pure modules and utilities, each below the next
    ["log"],
    ["ring"],
    ["health"],
    ["conditioner"],
    ["pool"],
    ["counter"],
    ["osdep"],
    ["egd", "textcmd"],           # the dialects' pure parsers
    ["conffile"],
    ["credit"],
    ["faulthook"],
    ["sampler"],
    ["calcache"],
    ["config"],
    # the server core
    ["conn"],                     # transport: bytes, budget, close, the pass
    ["request"],                  # the request layer's base
    ["capture"],                  # captures and restarts
    ["reads"],                    # starting every read; reads served
    ["status", "listener"],       # read-only status; the listening socket
    ["vmwatch"],                  # duplicated DRBG state, the reseed command
    ["dialect"],                  # the three dialects
    ["server"],                   # the loop: wires the hooks, tick, stop
    ["main"],
]

TOKEN = re.compile(r"[A-Za-z_]\w*|\S")


def module(filename):
    base = filename[:-2]
    return "osdep" if base.startswith("osdep-") else base


def strip(src):
    """The C source without comments, literals and preprocessor lines."""
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    src = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', src)
    src = re.sub(r"'(?:\\.|[^'\\\n])*'", "''", src)
    src = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", src, flags=re.M)
    return src


def definitions(tokens):
    """Names of the non-static functions defined at file scope."""
    names = set()
    stmt = []
    depth = 0
    for tok in tokens:
        if depth > 0:
            depth += tok == "{"
            depth -= tok == "}"
            continue
        if tok == "{":
            if "(" in stmt and "=" not in stmt and "static" not in stmt:
                name = stmt[stmt.index("(") - 1]
                if re.fullmatch(r"[A-Za-z_]\w*", name):
                    names.add(name)
            depth = 1
            stmt = []
        elif tok == ";":
            stmt = []
        else:
            stmt.append(tok)
    return names


KEYWORDS = {"return", "sizeof", "case", "else", "do"}


def uses(tokens):
    """The names a file uses as values: called, or passed or stored as a
    function pointer. Not a member (p->now_ms), nor a variable or parameter
    that shares a function's name (uint64_t now_ms): a name the file
    declares counts only where it is called."""
    word = re.compile(r"[A-Za-z_]\w*")
    named, declared = set(), set()
    for i, tok in enumerate(tokens):
        if not word.fullmatch(tok):
            continue
        prev = tokens[i - 1] if i > 0 else ""
        prev2 = tokens[i - 2] if i > 1 else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if prev == "." or (prev == ">" and prev2 == "-"):
            continue
        if (word.fullmatch(prev) and prev not in KEYWORDS) or \
                (prev == "*" and word.fullmatch(prev2) and
                 prev2 not in KEYWORDS):
            if nxt != "(":
                declared.add(tok)
            continue
        named.add((tok, nxt == "("))
    return {tok for tok, call in named if call or tok not in declared}


def graph(daemon):
    files = sorted(f for f in os.listdir(daemon) if f.endswith(".c"))
    tokens, defined_in = {}, {}
    for f in files:
        with open(os.path.join(daemon, f), encoding="utf-8") as fh:
            tokens[f] = TOKEN.findall(strip(fh.read()))
        for name in definitions(tokens[f]):
            defined_in.setdefault(name, set()).add(module(f))
    calls = {}
    for f in files:
        me = module(f)
        out = calls.setdefault(me, {})
        for tok in uses(tokens[f]):
            for m in defined_in.get(tok, ()):
                if m != me:
                    out.setdefault(m, set()).add(tok)
    return calls


def main(argv):
    show = "--graph" in argv
    args = [a for a in argv if a != "--graph"]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..")
    calls = graph(os.path.join(root, "daemon"))
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    unknown = sorted(set(calls) - set(rank))
    missing = sorted(set(rank) - set(calls))
    if unknown or missing:
        for m in unknown:
            print(f"layers: daemon/{m}.c has no layer in tools/layers.py")
        for m in missing:
            print(f"layers: tools/layers.py lists {m}, not in daemon/")
        return 2
    bad = 0
    for m in sorted(calls, key=lambda m: (rank[m], m)):
        for callee, names in sorted(calls[m].items()):
            if show:
                print(f"{m} -> {callee}: {', '.join(sorted(names))}")
            if rank[callee] >= rank[m]:
                where = "its own layer" if rank[callee] == rank[m] else \
                    "a layer above it"
                print(f"layers: {m}.c calls {callee}.c, {where}: "
                      f"{', '.join(sorted(names))}")
                bad += 1
    if bad:
        print(f"layers: {bad} call(s) against the order in tools/layers.py")
        return 1
    print(f"layers: {len(calls)} files of daemon/, every call goes down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
