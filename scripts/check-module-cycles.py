#!/usr/bin/env python3
"""Fails when two modules of a crate use each other, directly or around a loop.

Modules are compared as siblings: a reference from `a::x` to `b::y` is an arrow from `a` to `b`
under their common parent; a module using its parent or its own children is the tree itself, not
a loop. References are the paths through `crate::`, `super::` and `self::` in each file.
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
USE_GROUP = re.compile(r"\b(crate|super|self)::\{([^;]*?)\};", re.S)


def modules_of(src):
    """Module path (tuple) of every .rs file under src."""
    found = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            relative = os.path.relpath(os.path.join(folder, name), src)[:-3].split(os.sep)
            if relative[-1] in ("mod", "lib", "main"):
                relative = relative[:-1]
            found[os.path.join(folder, name)] = tuple(relative)
    return found


def strip_comments(text):
    """The code alone: comments and the contents of string and character literals blanked, so
    neither a `//` inside a string nor a path named in a comment counts."""
    out, i, n = [], 0, len(text)
    while i < n:
        c, pair = text[i], text[i : i + 2]
        if pair == "//":
            while i < n and text[i] != "\n":
                i += 1
        elif pair == "/*":
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^'\\])'", text[i : i + 4]):
            i = text.index("'", i + 2) + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def references(module, text):
    """Absolute paths (tuples) this module's text names through crate/super/self."""
    text = strip_comments(text)
    paths = []
    for start, rest in PATH.findall(text):
        paths.append((start, [part for part in rest.split("::") if part and part != "{"]))
    for start, group in USE_GROUP.findall(text):
        for item in group.split(","):
            item = item.strip().split(" as ")[0]
            if item:
                paths.append((start, [part for part in item.split("::") if part and part not in "{}"]))
    resolved = []
    for start, parts in paths:
        base = list(module)
        if start == "crate":
            base = []
        elif start == "super":
            base = base[:-1]
            while parts and parts[0] == "super":
                base, parts = base[:-1], parts[1:]
        resolved.append(tuple(base + parts))
    return resolved


REEXPORT = re.compile(r"\bpub(?:\([^)]*\))? use (?:self::)?([A-Za-z_][A-Za-z0-9_]*)::([^;]+);")


def reexports(module, text, known):
    """Names `module` re-exports from a child: (module + name) -> the child's path."""
    found = {}
    for child, rest in REEXPORT.findall(strip_comments(text)):
        if module + (child,) not in known:
            continue
        names = rest.strip().strip("{}").split(",")
        for name in names:
            name = name.strip().split(" as ")[-1].split("::")[-1].strip()
            if name:
                found[module + (name,)] = module + (child,)
    return found


def longest_module(path, known, forwarded):
    for length in range(len(path), -1, -1):
        if path[:length] in known:
            if length < len(path) and path[: length + 1] in forwarded:
                return forwarded[path[: length + 1]]
            return path[:length]
    return ()


def cycles(src):
    files = modules_of(src)
    known = set(files.values())
    texts = {}
    for file in files:
        with open(file, encoding="utf-8") as handle:
            texts[file] = handle.read()
    forwarded = {}
    for file, module in files.items():
        forwarded.update(reexports(module, texts[file], known))
    arrows = {}
    for file, module in files.items():
        for path in references(module, texts[file]):
            target = longest_module(path, known, forwarded)
            common = 0
            while common < min(len(module), len(target)) and module[common] == target[common]:
                common += 1
            if common == len(module) or common == len(target):
                continue  # the same module, an ancestor, or a descendant
            parent = module[:common]
            arrows.setdefault(parent, {}).setdefault(module[common], set()).add(target[common])
    loops = []
    for parent, graph in arrows.items():
        for loop in strongly_connected(graph):
            if len(loop) > 1:
                loops.append((parent, sorted(loop)))
    return loops


def strongly_connected(graph):
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for next_node in graph.get(node, ()):
            if next_node not in index:
                visit(next_node)
                low[node] = min(low[node], low[next_node])
            elif next_node in on_stack:
                low[node] = min(low[node], index[next_node])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            result.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return result


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    crates = [os.path.join(group, crate) for group in ("shared", "services") for crate in os.listdir(os.path.join(root, group))]
    failed = False
    for crate in sorted(crates) + ["tests"]:
        src = os.path.join(root, crate, "src")
        if not os.path.isdir(src):
            continue
        for parent, loop in cycles(src):
            where = "::".join(("crate",) + parent)
            print(f"check-module-cycles: {crate}: {where}: {' <-> '.join(loop)} use each other", file=sys.stderr)
            failed = True
    if failed:
        sys.exit(1)
    print("check-module-cycles: no two modules of a crate use each other")

if __name__ == "__main__":
    main()
