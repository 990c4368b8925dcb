#!/usr/bin/env python3
"""Checks lio's layering (see docs/ARCHITECTURE.md, "Layers"): no import cycle may span two
layers. Reads `crate::` paths in lio/src, maps each top-level module to its layer, finds the
strongly connected components of the module graph and fails on any component that spans
two layers, except the one cycle the portable-core restructure (issue 9) has not untangled
yet, which may only shrink: a module joining it, or any new cycle, fails the check."""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "lio" / "src"

# Lowest first; a module may depend on its own layer and those below it.
LAYERS = {
    "pal": 0,
    "buf": 1, "resource": 1,
    "table": 2,
    "sys": 3,
    "op": 4,
    "driver": 5, "builder": 5, "block_on": 5,
    "io": 6, "multishot": 6, "convenience": 6, "convenience_net": 6, "net": 6,
}

# The cycle still to untangle (issue 9, part 1). Shrink this set as modules leave it.
KNOWN_CYCLE = {"block_on", "buf", "driver", "op", "sys"}


def root_reexports():
    """Names lib.rs re-exports, mapped to the module they come from."""
    names = {}
    lib = (SRC / "lib.rs").read_text()
    for module, body in re.findall(r"pub use (\w+)::\{?([^;]*?)\}?;", lib):
        for name in re.split(r"[,\s]+", body):
            if name:
                names[name] = module
    return names


def module_files(module):
    directory = SRC / module
    if directory.is_dir():
        return sorted(directory.rglob("*.rs"))
    return [SRC / f"{module}.rs"]


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def dependencies(module, reexports):
    deps = set()
    for path in module_files(module):
        text = strip_comments(path.read_text())
        names = re.findall(r"crate::(\w+)", text)
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            names += re.findall(r"(?:^|,)\s*(\w+)", group)
        for name in names:
            target = name if name in LAYERS else reexports.get(name)
            if target and target != module:
                deps.add(target)
    return deps


def components(graph):
    """Tarjan's strongly connected components."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            result.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return result


def main():
    reexports = root_reexports()
    missing = [m for m in LAYERS if not module_files(m)[0].exists()]
    unknown = [
        p.stem for p in SRC.iterdir()
        if p.stem not in LAYERS and p.stem != "lib" and (p.is_dir() or p.suffix == ".rs")
    ]
    if missing or unknown:
        print(f"layers: modules without a layer {unknown}, layers without a module {missing}")
        return 1
    graph = {m: dependencies(m, reexports) for m in LAYERS}
    failed = False
    for component in components(graph):
        if len({LAYERS[m] for m in component}) < 2:
            continue
        if component <= KNOWN_CYCLE:
            print(f"layers: known cycle still to untangle (issue 9): {sorted(component)}")
            continue
        print(f"layers: an import cycle spans layers: {sorted(component)}")
        failed = True
    for module in sorted(LAYERS):
        if module in KNOWN_CYCLE:
            continue
        upward = sorted(d for d in graph[module] if LAYERS[d] > LAYERS[module])
        if upward:
            print(f"layers: {module} (layer {LAYERS[module]}) imports from above: {upward}")
            failed = True
    if not failed:
        print("layers: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
