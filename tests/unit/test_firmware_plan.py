"""The firmware generator's schedule, memory plan and graph folding, on synthetic graphs (issue 29).

Pure Python: no flatbuffer, no compiler. The plan's promises: lifetimes from first writer to last
reader, aliases share bytes, in place only where the writer is the last reader, 16-byte offsets,
and no two tensors alive at the same time share a byte (checked over random graphs).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from edgebench.firmware import plan as P
from edgebench.firmware import quant
from edgebench.firmware.graph import Graph, Op, Tensor, Unsupported, fold


def _plan(sizes, ops, gin, gout, aliases=None):
    steps = P.schedule(ops, gout)
    return steps, P.plan_memory(sizes, steps, gin, gout, aliases or {})


def _by_name(plan):
    return {t["name"]: t for t in plan["tensors"]}


def test_chain_reuses_memory_and_aligns():
    ops = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("CONV_2D", ["a"], ["b"]), P.OpInfo("CONV_2D", ["b"], ["y"])]
    sizes = {"x": 100, "a": 200, "b": 200, "y": 10}
    _, plan = _plan(sizes, ops, "x", "y")
    t = _by_name(plan)
    assert (t["x"]["first"], t["x"]["last"]) == (0, 0)
    assert (t["a"]["first"], t["a"]["last"]) == (0, 1)
    assert (t["y"]["first"], t["y"]["last"]) == (2, 3)      # the output lives to the end
    assert all(r["offset"] % 16 == 0 for r in plan["tensors"])
    assert P.overlaps(plan) == []
    assert plan["arena_bytes"] == P.align_up(max(r["offset"] + r["bytes"] for r in plan["tensors"]))
    assert plan["peak_lower_bound"] == 400 and plan["arena_bytes"] <= 416


def test_alias_shares_bytes_and_extends_lifetime():
    ops = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("FULLY_CONNECTED", ["a_flat"], ["y"])]
    sizes = {"x": 64, "a": 32, "a_flat": 32, "y": 8}
    steps, plan = _plan(sizes, ops, "x", "y", {"a_flat": "a"})
    t = _by_name(plan)
    assert t["a_flat"]["alias_of"] == "a" and t["a_flat"]["offset"] == t["a"]["offset"]
    assert t["a"]["last"] == 1


def test_add_in_place_only_over_a_last_read_input():
    ops = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("FULLY_CONNECTED", ["a"], ["b"]),
           P.OpInfo("FULLY_CONNECTED", ["a"], ["c"]), P.OpInfo("ADD", ["b", "c"], ["y"])]
    sizes = {"x": 64, "a": 64, "b": 64, "c": 64, "y": 64}
    _, plan = _plan(sizes, ops, "x", "y")
    assert plan["in_place"] == [{"layer": 3, "output": "y", "over": "b"}]
    t = _by_name(plan)
    assert t["y"]["offset"] == t["b"]["offset"]
    assert P.overlaps(plan) == []


def test_residual_block_fuses_conv_into_add_in_place():
    # x -> c1 -> c2 ; add(x, c2): three 16 KB tensors unless c2+add writes over x
    ops = [P.OpInfo("CONV_2D", ["in"], ["x"]), P.OpInfo("CONV_2D", ["x"], ["c1"]),
           P.OpInfo("CONV_2D", ["c1"], ["c2"]), P.OpInfo("ADD", ["x", "c2"], ["y"])]
    sizes = {"in": 3072, "x": 16384, "c1": 16384, "c2": 16384, "y": 16384}
    steps, plan = _plan(sizes, ops, "in", "y")
    assert [s.kind for s in steps] == ["CONV_2D", "CONV_2D", "CONV_2D+ADD"]
    assert steps[2].inputs == ["c1", "x"] and steps[2].in_place == ["x"]
    assert plan["in_place"] == [{"layer": 2, "output": "y", "over": "x"}]
    assert plan["arena_bytes"] == 2 * 16384
    assert P.overlaps(plan) == []


def test_fusion_picks_the_later_conv_and_refuses_shared_outputs():
    # both add inputs are single-use convs: the later one is fused, at its own place
    ops = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("CONV_2D", ["x"], ["b"]), P.OpInfo("ADD", ["a", "b"], ["y"])]
    f = P.find_fusions(ops, "y")
    assert f == {2: {"conv": 1, "other": "a", "at": 1}}
    # a conv output read twice is not fused; the graph output is never fused away
    ops2 = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("ADD", ["a", "x"], ["y"]), P.OpInfo("ADD", ["a", "y"], ["z"])]
    assert P.find_fusions(ops2, "z") == {}
    # fused conv reading the add's other input: computed at the conv, never in place over its input
    ops3 = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("ADD", ["x", "a"], ["y"])]
    steps = P.schedule(ops3, "y")
    assert steps[0].kind == "CONV_2D+ADD" and steps[0].in_place == []


def test_fusion_waits_for_the_other_input():
    ops = [P.OpInfo("CONV_2D", ["x"], ["a"]), P.OpInfo("FULLY_CONNECTED", ["x"], ["b"]),
           P.OpInfo("ADD", ["a", "b"], ["y"])]
    steps = P.schedule(ops, "y")
    assert [s.kind for s in steps] == ["FULLY_CONNECTED", "CONV_2D+ADD"]


def _random_graph(rng: random.Random):
    names, sizes, ops = ["in"], {"in": rng.randint(1, 200)}, []
    for i in range(rng.randint(1, 12)):
        kind = rng.choice(["CONV_2D", "ADD", "FULLY_CONNECTED", "CONV_2D"])
        out = f"t{i}"
        if kind == "ADD" and len(names) >= 2:
            a, b = rng.sample(names, 2)
            sizes[out] = sizes[a] = sizes[b] = max(sizes[a], sizes[b])
            ops.append(P.OpInfo("ADD", [a, b], [out]))
        else:
            ops.append(P.OpInfo(kind, [rng.choice(names)], [out]))
            sizes[out] = rng.randint(1, 300)
        names.append(out)
    return sizes, ops, names[-1]


def test_no_two_live_tensors_overlap_on_random_graphs():
    rng = random.Random(29)
    for _ in range(300):
        sizes, ops, out = _random_graph(rng)
        steps, plan = _plan(sizes, ops, "in", out)
        assert P.overlaps(plan) == [], plan
        assert all(t["offset"] % 16 == 0 for t in plan["tensors"])
        assert plan["arena_bytes"] >= plan["peak_lower_bound"]
        for row in plan["in_place"]:
            over = _by_name(plan)[row["over"]]
            assert over["last"] == row["layer"]


def _t(i, shape, dtype="int8", data=None):
    return Tensor(i, f"t{i}", tuple(shape), dtype, np.array([0.1], np.float32), np.array([0]), 0, data)


def test_fold_drops_shape_chains_and_aliases_reshape():
    tensors = [_t(0, (1, 4, 4, 2)), _t(1, (4,), "int32"), _t(2, (2,), "int32"), _t(3, (1, 32)), _t(4, (1, 3)),
               _t(5, (3, 32), data=np.zeros((3, 32), np.int8))]
    ops = [Op(0, "SHAPE", [0], [1]), Op(1, "PACK", [1], [2]), Op(2, "RESHAPE", [0, 2], [3]),
           Op(3, "FULLY_CONNECTED", [3, 5, -1], [4])]
    g = fold(Graph(tensors, ops, 0, 4))
    assert [op.kind for op in g.ops] == ["FULLY_CONNECTED"]
    assert g.aliases == {3: 0} and g.base(3) == 0


def test_fold_refuses_unknown_ops_and_types():
    tensors = [_t(0, (1, 8)), _t(1, (1, 8))]
    with pytest.raises(Unsupported, match="^TANH: "):
        fold(Graph(tensors, [Op(0, "TANH", [0], [1])], 0, 1))
    t16 = [_t(0, (1, 8), "int16"), _t(1, (1, 8), "int16")]
    with pytest.raises(Unsupported, match="int16"):
        fold(Graph(t16, [Op(0, "SOFTMAX", [0], [1])], 0, 1))


def test_quantize_multiplier_matches_frexp_rounding():
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(1.0) == (1 << 30, 1)
    m, s = quant.quantize_multiplier(0.0123)
    assert (1 << 30) <= m < (1 << 31) and abs(m * 2.0 ** (s - 31) - 0.0123) < 1e-9
    assert quant.mbqm(1000, *quant.quantize_multiplier(0.25)) == 250
    assert quant.rdbp(-5, 1) == -3 and quant.rdbp(5, 1) == 3     # ties away from zero
    assert quant.activation_range(3, 6.0 / 255, -128) == (-128, 127)
