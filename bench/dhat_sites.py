#!/usr/bin/env python3
"""Where the allocations of one run come from: two `valgrind --tool=dhat` outputs of the
alloc bench's callgrind mode, N and 2N runs after the same setup, subtracted (so the setup
cancels out) and divided by N.

    bench/dhat_sites.py dhat.N.out dhat.2N.out N

Prints the allocations (blocks) and bytes per run by the nearest picket function on the
allocating stack (what to change), by the allocating function itself (the first frame that
is not the allocator), and by any function on the stack (inclusive). Run by
`bench/callgrind sites N`.
"""

import json
import re
import sys
from collections import defaultdict

# Frames of the allocator itself: the first frame past them is the allocating function.
ALLOCATOR = re.compile(
    r"^(malloc|calloc|realloc|free|memalign|posix_memalign|aligned_alloc|aligned_malloc"
    r"|__rust_|__rustc::|__rdl_|__rg_|std::sys::alloc|std::alloc::|<std::alloc::"
    r"|<&?stats_alloc::|stats_alloc::|alloc::alloc::|<alloc::alloc::|alloc::raw_vec::"
    r"|<alloc::raw_vec::|core::alloc::|alloc::boxed::Box<T>::new|exchange_malloc"
    r"|alloc::boxed::Box<T,A>::try_new)"
)


# A function of picket's own (not a generic of a dependency instantiated with a picket type).
PICKET = re.compile(r"^<?picket::")


def function(frame):
    """The function of a frame: `0xADDR: name (file:line)` -> `name`."""
    text = frame.split(": ", 1)[1] if ": " in frame else frame
    # The location in parentheses at the end: `(file.rs:12)` or `(in /path/lib.so)`.
    return re.sub(r" \((in [^)]*|[^()]*:\d+)\)$", "", text)


def tables(path):
    with open(path) as f:
        data = json.load(f)
    names = [function(f) for f in data["ftbl"]]
    nearest = defaultdict(lambda: [0, 0])
    called = defaultdict(lambda: [0, 0])
    allocating = defaultdict(lambda: [0, 0])
    inclusive = defaultdict(lambda: [0, 0])
    for pp in data["pps"]:
        blocks, size = pp["tbk"], pp["tb"]
        stack = [names[i] for i in pp["fs"]]
        at = next((i for i, s in enumerate(stack) if PICKET.match(s)), None)
        own = stack[at] if at is not None else "(no picket frame)"
        nearest[own][0] += blocks
        nearest[own][1] += size
        # What that picket function called on the way to the allocation.
        callee = stack[at - 1] if at else "(allocates itself)"
        called[f"{own}  ->  {callee}"][0] += blocks
        called[f"{own}  ->  {callee}"][1] += size
        first = next((s for s in stack if not ALLOCATOR.match(s)), "(allocator only)")
        allocating[first][0] += blocks
        allocating[first][1] += size
        for s in set(stack):
            inclusive[s][0] += blocks
            inclusive[s][1] += size
    return nearest, called, allocating, inclusive


def show(title, one, two, runs, top):
    rows = []
    for key in set(one) | set(two):
        blocks = (two.get(key, [0, 0])[0] - one.get(key, [0, 0])[0]) / runs
        size = (two.get(key, [0, 0])[1] - one.get(key, [0, 0])[1]) / runs
        if blocks >= 0.5:
            rows.append((blocks, size, key))
    rows.sort(reverse=True)
    print(f"==> {title}")
    print(f"{'allocations/run':>15} {'bytes/run':>10}  function")
    for blocks, size, key in rows[:top]:
        print(f"{blocks:>15.1f} {size:>10.0f}  {key[:220]}")
    print()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: dhat_sites.py dhat.N.out dhat.2N.out N")
    runs = int(sys.argv[3])
    one = tables(sys.argv[1])
    two = tables(sys.argv[2])
    show("by the nearest picket function on the stack", one[0], two[0], runs, 40)
    show("by the nearest picket function and what it called", one[1], two[1], runs, 40)
    show("by the allocating function (first frame past the allocator)", one[2], two[2], runs, 40)
    show("by any function on the stack (inclusive)", one[3], two[3], runs, 60)


if __name__ == "__main__":
    main()
