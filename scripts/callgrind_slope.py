#!/usr/bin/env python3
"""Instructions per message from two callgrind runs of the same binary.

  callgrind_slope.py SMALL.out N_SMALL LARGE.out N_LARGE [TOP]

Each file is a `valgrind --tool=callgrind --separate-threads=no` profile of one `pigeon serve
--until-idle` that sent N messages. Start-up (dynamic linking, libphonenumber and zone tables,
SQLite schema) costs the same in both runs, so (LARGE - SMALL) / (N_LARGE - N_SMALL) is the
cost of one message. Prints that slope for the whole process, per shared object and per kind
(SQLite, libcurl, allocation, JSON, ...; self cost: instructions executed inside that code
itself), and the TOP (default 25) functions by inclusive cost (self + callees; a recursive
function counts its recursion again, as in callgrind_annotate --inclusive=yes; pure wrappers
left out) and by self cost. Stdlib only.
"""
import collections
import sys


def parse(path):
    """-> (total, self cost by object, self cost by function, inclusive cost by function)"""
    names = {"ob": {}, "fl": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl",
               "cfl": "fl", "fn": "fn", "cfn": "fn"}

    def name(kind, value):
        table = names[kind_of[kind]]
        value = value.strip()
        if value.startswith("("):
            close = value.index(")")
            ident = value[1:close]
            rest = value[close + 1:].strip()
            if rest:
                table[ident] = rest
            return table.get(ident, ident)
        return value

    ob = fn = ""
    self_ob = collections.Counter()
    self_obfn = collections.Counter()
    self_fn = collections.Counter()
    incl_fn = collections.Counter()
    total = 0
    call_line_next = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            head = line[0]
            if head.isdigit() or head in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if call_line_next:
                    incl_fn[fn] += cost
                    call_line_next = False
                else:
                    self_ob[ob] += cost
                    self_obfn[(ob, fn)] += cost
                    self_fn[fn] += cost
                    incl_fn[fn] += cost
                continue
            key, _, value = line.partition("=")
            if key in kind_of:
                resolved = name(key, value)
                if key == "ob":
                    ob = resolved
                elif key == "fn":
                    # an unnamed function (a stripped library's static one) is known by its
                    # address, which repeats across objects: name the object too
                    fn = resolved if not resolved.startswith("0x") else \
                        f"{resolved} in {short_object(ob)}"
            elif key == "calls":
                call_line_next = True
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = max(total, int(line.split()[1]))
    return total, self_ob, self_fn, incl_fn, self_obfn


# Self cost by what it is, first match wins: (label, test on (object, function)).
CATEGORIES = [
    ("SQLite", lambda ob, fn: "libsqlite3" in ob),
    ("libcurl", lambda ob, fn: "libcurl" in ob),
    ("allocation", lambda ob, fn: "tcmalloc" in ob or any(
        w in fn for w in ("malloc", "free", "calloc", "realloc", "operator new",
                          "operator delete", "tc_new", "tc_delete"))),
    ("JSON", lambda ob, fn: "boost_json" in ob or "boost::json" in fn),
    ("templates", lambda ob, fn: "pigeon::templates" in fn),
    ("logging, metrics", lambda ob, fn: any(
        w in fn for w in ("spdlog", "fmt::", "pigeon::engine::ops::metrics", "log_format"))),
    ("Asio (event loop)", lambda ob, fn: "boost::asio" in fn),
    ("libc (other)", lambda ob, fn: "libc.so" in ob),
    ("pigeon (other)", lambda ob, fn: "pigeon" in ob.rsplit("/", 1)[-1]),
    ("other", lambda ob, fn: True),
]

# Wrappers that only pass the cost through (thread entry, std::function, the event loop's
# dispatch): left out of the top list so that the functions doing the work show.
WRAPPERS = ("std::function<", "std::__invoke", "std::thread", "_Invoker", "_State_impl",
            "start_thread", "clone", "(below main)", "_Function_handler",
            "std::enable_if", "io_context::run", "scheduler::run", "scheduler::do_run_one",
            "scheduler_operation::complete", "executor_op", "executor_function",
            "completion_handler<", "handler_invoke", "awaitable_", "co_spawn", "coroutine_handle",
            "__libc_start_main", "CLI::", "register_serve", "cli::(anonymous namespace)::serve",
            "async_store::run_", "async_store::async_store", "main")


def short_object(path):
    base = path.rsplit("/", 1)[-1]
    return base.split(".so")[0] + (".so" if ".so" in base else "")


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    small, n_small, large, n_large = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 25
    if n_large <= n_small:
        print("N_LARGE must exceed N_SMALL", file=sys.stderr)
        return 2
    a, b = parse(small), parse(large)
    d = n_large - n_small
    per = lambda x, y: (y - x) / d
    print(f"instructions per message: {per(a[0], b[0]):,.0f} "
          f"(whole process; {a[0]:,} at {n_small} messages, {b[0]:,} at {n_large})")
    objects = collections.Counter()
    for k in set(a[1]) | set(b[1]):
        objects[short_object(k)] += per(a[1][k], b[1][k])
    print("  by shared object (self): " + ", ".join(
        f"{k} {v:,.0f}" for k, v in objects.most_common() if v >= 100))
    cats = collections.Counter()
    for k in set(a[4]) | set(b[4]):
        label = next(c for c, test in CATEGORIES if test(k[0], k[1]))
        cats[label] += per(a[4][k], b[4][k])
    print("  by kind (self): " + ", ".join(
        f"{k} {v:,.0f}" for k, v in cats.most_common() if v >= 100))
    incl = {k: per(a[3][k], b[3][k]) for k in set(a[3]) | set(b[3])
            if not any(w in k for w in WRAPPERS) and not k.endswith("'2")}
    print(f"  top {top} functions by inclusive instructions per message (self in brackets;"
          " thread entry, std::function and event-loop wrappers left out):")
    for k, v in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        s = per(a[2][k], b[2][k])
        print(f"    {v:>10,.0f}  [{s:>8,.0f}]  {k[:110]}")
    own = {k: per(a[2][k], b[2][k]) for k in set(a[2]) | set(b[2])}
    print(f"  top {top} functions by self instructions per message:")
    for k, v in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {v:>10,.0f}  {k[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
