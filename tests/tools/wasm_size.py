#!/usr/bin/env python3
"""What a wasm file costs a first visit, and which crates it is made of. Prints figures; checks nothing.

    python3 tests/tools/wasm_size.py FILE.wasm            # bytes and brotli-11 size without custom sections,
                                                          # and the data section's
    python3 tests/tools/wasm_size.py FILE.wasm --crates   # also code bytes by crate (needs the name section)
    python3 tests/tools/wasm_size.py FILE.wasm --without REGEX...
        # what the code section would lose, raw and with brotli, without the functions whose (mangled) names match
        # each REGEX: how much of the download a group of functions (serde's, a crate's) really is

docs/static-site.md quotes both, on the world's wasm built without `strip` and before wasm-bindgen:
    cargo build --profile wasm-release --target wasm32-unknown-unknown -p mailroom-frontend --features world \
        --target-dir target/wasm-names --config 'profile.wasm-release.strip=false'
    python3 tests/tools/wasm_size.py target/wasm-names/wasm32-unknown-unknown/wasm-release/mailroom_frontend.wasm --crates
(`pip install brotli` if the module is missing.) Sizes before wasm-bindgen are a little larger than the site's,
so compare builds with each other, not with `static-site`'s figures.
"""
import collections
import re
import sys

import brotli


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def sections(d):
    i, out = 8, []
    while i < len(d):
        sid = d[i]
        n, j = leb(d, i + 1)
        out.append((sid, i, j, n))  # id, section start, payload start, payload length
        i = j + n
    return out


def imported_functions(d, off):
    count, j = leb(d, off)
    funcs = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            n, j = leb(d, j)
            j += n
        kind = d[j]
        j += 1
        if kind == 0:  # function: type index
            _, j = leb(d, j)
            funcs += 1
        elif kind == 1:  # table: element type, limits
            flags, j = leb(d, j + 1)
            _, j = leb(d, j)
            if flags & 1:
                _, j = leb(d, j)
        elif kind == 2:  # memory: limits
            flags, j = leb(d, j)
            _, j = leb(d, j)
            if flags & 1:
                _, j = leb(d, j)
        else:  # global: value type, mutability
            j += 2
    return funcs


def function_names(d, off, end):
    n, j = leb(d, off)
    if d[j:j + n] != b"name":
        return {}
    j += n
    names = {}
    while j < end:
        sub = d[j]
        size, j = leb(d, j + 1)
        if sub == 1:
            count, k = leb(d, j)
            for _ in range(count):
                idx, k = leb(d, k)
                ln, k = leb(d, k)
                names[idx] = d[k:k + ln].decode("utf8", "replace")
                k += ln
        j += size
    return names


def crate_of(name):
    """The first path segment of a (legacy-mangled) Rust symbol, or of `<T as Trait>` impls."""
    if name.startswith("_ZN"):
        m = re.match(r"_ZN(\d+)", name)
        name = name[3 + len(m.group(1)):3 + len(m.group(1)) + int(m.group(1))]
    name = name.replace("_$LT$", "").replace("$LT$", "").replace("$RF$", "").replace("mut$u20$", "")
    m = re.match(r"_*([A-Za-z_][A-Za-z0-9_]*)", name)
    return m.group(1) if m else name[:20]


def main():
    path, crates = sys.argv[1], "--crates" in sys.argv[2:]
    without = sys.argv[sys.argv.index("--without") + 1:] if "--without" in sys.argv else []
    d = open(path, "rb").read()
    secs = sections(d)
    stripped = d[:8] + b"".join(d[s:j + n] for sid, s, j, n in secs if sid != 0)
    print(f"{len(stripped)} bytes without custom sections, {len(brotli.compress(stripped, quality=11, lgwin=22)) / 1024:.1f} KiB with brotli")
    for sid, _, j, n in secs:
        if sid == 11:  # the data section: string literals, tables, the compiled-in Explain catalogue and lessons
            print(f"data section: {n} bytes, {len(brotli.compress(d[j:j + n], quality=11, lgwin=22)) / 1024:.1f} KiB with brotli (alone)")
    if not crates and not without:
        return
    imports = sum(imported_functions(d, j) for sid, _, j, _ in secs if sid == 2)
    names = {}
    for sid, _, j, n in secs:
        if sid == 0:
            names.update(function_names(d, j, j + n))
    if not names:
        sys.exit("no name section: build without `strip`")
    by_crate, total, bodies = collections.Counter(), 0, []
    for sid, _, j, _ in secs:
        if sid == 10:
            count, k = leb(d, j)
            for i in range(count):
                size, k = leb(d, k)
                name = names.get(imports + i, "?")
                by_crate[crate_of(name)] += size
                bodies.append((name, d[k:k + size]))
                total += size
                k += size
    if without:
        # Bodies compressed together, in module order, as the download has them.
        whole = len(brotli.compress(b"".join(b for _, b in bodies), quality=11, lgwin=22))
        for pattern in without:
            r = re.compile(pattern)
            kept = [b for n, b in bodies if not r.search(n)]
            rest = len(brotli.compress(b"".join(kept), quality=11, lgwin=22))
            raw = total - sum(len(b) for b in kept)
            print(f"without /{pattern}/: {raw} bytes of code, {(whole - rest) / 1024:.1f} KiB with brotli")
    if not crates:
        return
    print(f"code: {total} bytes")
    for crate, size in by_crate.most_common(30):
        print(f"{size:>9} {crate}")


if __name__ == "__main__":
    main()
