"""The generated model's schedule and memory plan: one arena, offsets from tensor lifetimes.

Pure Python on plain names and sizes (no flatbuffer, no compiler), so it is unit-testable.

schedule() turns the graph's ops into kernel calls ("steps"), fusing a CONV_2D whose only consumer
is an ADD into that ADD: the convolution computes each int8 (or float) value exactly as alone
(requantize, activation clamp), then the add's arithmetic with the other input at the same index,
then the add's activation. The fused step may write over the add's other input (the block's
shortcut in a residual network) when the step is that tensor's last reader.

plan_memory() gives every activation tensor an offset in one arena:
- a tensor lives from the step that writes it (the graph input: 0) to the last step that reads it
  (the graph output: the end, len(steps)); lifetimes are inclusive;
- an alias (RESHAPE and the like) names its source's bytes, and extends its lifetime;
- in place: a step's output shares its in_place input's bytes when the step is that input's last
  reader and the sizes match (elementwise ADD, the fused CONV_2D+ADD);
- offsets are placed greedily, largest buffer first, each at the lowest 16-byte aligned offset
  where it overlaps no buffer whose lifetime overlaps its own (first fit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGN = 16


@dataclass
class Step:
    """One kernel call: the ops it runs (one, or a CONV_2D and the ADD fused into it)."""
    kind: str                    # "CONV_2D", or "CONV_2D+ADD" for a fused pair
    ops: list[int]               # indices into the op list given to schedule()
    inputs: list[str]            # activation tensors read
    outputs: list[str]           # activation tensors written
    in_place: list[str] = field(default_factory=list)   # inputs the output may overwrite


@dataclass
class OpInfo:
    """What schedule() needs to know about one op."""
    kind: str
    inputs: list[str]            # activation (non-constant) inputs, alias-resolved
    outputs: list[str]


def align_up(n: int, align: int = ALIGN) -> int:
    return (n + align - 1) // align * align


def _producers_consumers(ops: list[OpInfo]):
    producer, consumers = {}, {}
    for i, op in enumerate(ops):
        for t in op.outputs:
            producer[t] = i
        for t in set(op.inputs):
            consumers.setdefault(t, []).append(i)
    return producer, consumers


def find_fusions(ops: list[OpInfo], graph_output: str, can_fuse=lambda conv, add: True) -> dict[int, dict]:
    """ADD index -> {conv, other, at}: the CONV_2D fused into each ADD it alone feeds.

    Among the ADD's inputs made by such a convolution, the latest one is fused (its other input is
    then already computed, so the fused call runs at the convolution's place); `at` is the op index
    where the fused call runs. can_fuse(conv_index, add_index) checks shapes and types.
    """
    producer, consumers = _producers_consumers(ops)
    fusions = {}
    for a, op in enumerate(ops):
        if op.kind != "ADD" or len(op.inputs) != 2 or op.inputs[0] == op.inputs[1]:
            continue
        candidates = [producer[t] for t in op.inputs
                      if t in producer and ops[producer[t]].kind == "CONV_2D" and t != graph_output
                      and consumers.get(t) == [a] and can_fuse(producer[t], a)]
        if not candidates:
            continue
        c = max(candidates)
        other = next(t for t in op.inputs if t != ops[c].outputs[0])
        at = c if producer.get(other, -1) < c else a
        fusions[a] = {"conv": c, "other": other, "at": at}
    return fusions


def schedule(ops: list[OpInfo], graph_output: str, can_fuse=lambda conv, add: True) -> list[Step]:
    """The kernel calls in order, with CONV_2D+ADD fusions and in-place permissions."""
    fusions = find_fusions(ops, graph_output, can_fuse)
    fused_at = {f["at"]: a for a, f in fusions.items()}
    skipped = {i for a, f in fusions.items() for i in (a, f["conv"]) if i != f["at"]}
    steps = []
    for i, op in enumerate(ops):
        if i in fused_at:
            a = fused_at[i]
            f = fusions[a]
            conv = ops[f["conv"]]
            in_place = [f["other"]] if f["other"] not in conv.inputs else []
            steps.append(Step("CONV_2D+ADD", [f["conv"], a], [*conv.inputs, f["other"]],
                              list(ops[a].outputs), in_place))
        elif i not in skipped:
            in_place = list(dict.fromkeys(op.inputs)) if op.kind == "ADD" else []
            steps.append(Step(op.kind, [i], list(op.inputs), list(op.outputs), in_place))
    return steps


def _lifetimes(steps: list[Step], graph_input: str, graph_output: str):
    first, last = {graph_input: 0}, {graph_input: 0}
    for i, step in enumerate(steps):
        for t in step.outputs:
            first.setdefault(t, i)
            last[t] = max(last.get(t, i), i)
        for t in step.inputs:
            last[t] = max(last.get(t, 0), i)
    first.setdefault(graph_output, 0)
    last[graph_output] = len(steps)
    return first, last


def _groups(steps, sizes, first, last):
    """Union tensors that share bytes in place: tensor -> group root; and the in_place records."""
    root = {t: t for t in first}
    records = []

    def find(t):
        while root[t] != t:
            t = root[t]
        return t
    for i, step in enumerate(steps):
        for x in step.in_place:
            out = step.outputs[0]
            if last[x] == i and sizes[x] == sizes[out] and find(x) != find(out):
                root[find(out)] = find(x)
                records.append({"layer": i, "output": out, "over": x})
                break
    return {t: find(t) for t in first}, records


# Orders the greedy placement tries (the smallest arena wins; ties keep the first): largest first
# (TFLite Micro's greedy planner), then by first use, then longest-lived first.
_ORDERS = (
    lambda b, s, lo, hi: (-s, lo, b),
    lambda b, s, lo, hi: (lo, -s, b),
    lambda b, s, lo, hi: (lo - hi, -s, b),
)


def _place(buffers: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    """Greedy first fit in each of _ORDERS; the placement with the smallest extent."""
    best, best_end = {}, None
    for key in _ORDERS:
        order = sorted(buffers, key=lambda b: key(b, *buffers[b]))
        offsets = _first_fit(buffers, order)
        end = max((offsets[b] + buffers[b][0] for b in buffers), default=0)
        if best_end is None or end < best_end:
            best, best_end = offsets, end
    return best


def _first_fit(buffers: dict[str, tuple[int, int, int]], order: list[str]) -> dict[str, int]:
    """Each buffer in turn at the lowest aligned offset clear of placed, time-overlapping ones."""
    offsets: dict[str, int] = {}
    for b in order:
        size, lo, hi = buffers[b]
        busy = sorted((offsets[p], buffers[p][0]) for p in offsets
                      if buffers[p][1] <= hi and lo <= buffers[p][2])
        at = 0
        for off, sz in busy:
            if at + size <= off:
                break
            at = max(at, align_up(off + sz))
        offsets[b] = at
    return offsets


def peak_lower_bound(buffers: dict[str, tuple[int, int, int]], n_steps: int) -> int:
    """The largest sum of live buffer sizes at any step: no placement can beat it."""
    return max((sum(s for s, lo, hi in buffers.values() if lo <= i <= hi) for i in range(n_steps + 1)),
               default=0)


def plan_memory(sizes: dict[str, int], steps: list[Step], graph_input: str, graph_output: str,
                aliases: dict[str, str] | None = None, fused: list | None = None) -> dict:
    """The arena plan: arena_bytes, tensors [{name, offset, bytes, first, last, alias_of?}], ..."""
    aliases = aliases or {}

    def base(t):
        while t in aliases:
            t = aliases[t]
        return t
    steps = [Step(s.kind, s.ops, [base(t) for t in s.inputs], [base(t) for t in s.outputs],
                  [base(t) for t in s.in_place]) for s in steps]
    first, last = _lifetimes(steps, base(graph_input), base(graph_output))
    group, in_place = _groups(steps, sizes, first, last)
    buffers: dict[str, tuple[int, int, int]] = {}
    for t, g in group.items():
        size, lo, hi = buffers.get(g, (0, first[t], last[t]))
        buffers[g] = (max(size, sizes[t]), min(lo, first[t]), max(hi, last[t]))
    offsets = _place(buffers)
    tensors = [{"name": t, "offset": offsets[group[t]], "bytes": sizes[t], "first": first[t],
                "last": last[t]} for t in sorted(group, key=lambda t: (first[t], t))]
    tensors += [{"name": a, "offset": offsets[group[base(a)]], "bytes": sizes[a],
                 "first": first[base(a)], "last": last[base(a)], "alias_of": base(a)}
                for a in sorted(aliases) if base(a) in group]
    arena = align_up(max((offsets[g] + buffers[g][0] for g in buffers), default=0))
    return {"arena_bytes": arena, "tensors": tensors, "fused": list(fused or []), "in_place": in_place,
            "peak_lower_bound": peak_lower_bound(buffers, len(steps)), "align": ALIGN}


def overlaps(plan: dict) -> list[tuple[str, str]]:
    """Pairs of distinct buffers alive at the same time whose bytes overlap (should be none)."""
    rows = [t for t in plan["tensors"] if "alias_of" not in t]
    shared = {(r["over"], r["output"]) for r in plan["in_place"]}
    bad = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            live = a["first"] <= b["last"] and b["first"] <= a["last"]
            mem = a["offset"] < b["offset"] + b["bytes"] and b["offset"] < a["offset"] + a["bytes"]
            if live and mem and not _same(a, b, shared):
                bad.append((a["name"], b["name"]))
    return bad


def _same(a: dict, b: dict, shared: set) -> bool:
    """Two tensors may share bytes in place only when one was written over the other."""
    pairs = {(a["name"], b["name"]), (b["name"], a["name"])}
    if pairs & shared:
        return True
    # a chain of in-place writes: x -> y -> z all share the same bytes
    linked = {}
    for over, out in shared:
        linked.setdefault(over, set()).add(out)
        linked.setdefault(out, set()).add(over)
    seen, todo = set(), [a["name"]]
    while todo:
        t = todo.pop()
        if t == b["name"]:
            return True
        if t not in seen:
            seen.add(t)
            todo.extend(linked.get(t, ()))
    return False
