"""PyTorch torch.export programs (.pt2), loaded without unpickling anything.

torch.export.load reads the program's graph from JSON, but reads tensors that it stored pickled
with torch.load(weights_only=False) and custom objects with pickle.loads, and falls back to an
unrestricted torch.load when the restricted one fails. While it runs here, torch.load is
restricted to tensors (weights_only=True, torch's allow-list unpickler), and pickle.loads and
torch's own pickle loader raise: a file that needs them is refused. The program then runs as
ATen ops; a program with a custom operator fails to load and is refused, naming it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgebench.sources import PT2_HOWTO, Source, SourceError, batched, channels_last, input_facts, one, shape_facts


class _Refused(Exception):
    pass


@contextmanager
def no_pickle():
    """torch.load restricted to tensors; pickle.loads and torch._C._pickle_load_obj refused."""
    import pickle

    import torch

    def refuse(*args, **kwargs):
        raise _Refused("the file asks to unpickle a Python object")

    original_load = torch.load

    def tensors_only(f, *args, **kwargs):
        kwargs["weights_only"] = True
        kwargs.pop("pickle_module", None)
        return original_load(f, *args, **kwargs)

    patched = [(torch, "load", tensors_only), (pickle, "loads", refuse), (pickle, "load", refuse),
               (torch._C, "_pickle_load_obj", refuse)]
    try:
        import torch.export.pt2_archive._package as package

        patched += [(package, "pickle", _NoPickle())]
    except ImportError:  # pragma: no cover (older layouts)
        pass
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patched if hasattr(obj, name)]
    for obj, name, value in patched:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


class _NoPickle:
    """Stands in for the pickle module inside torch's .pt2 reader."""

    def __getattr__(self, name):
        def refuse(*args, **kwargs):
            raise _Refused("the file asks to unpickle a Python object")

        return refuse


def load_program(path: Path):
    import torch

    try:
        with no_pickle():
            return torch.export.load(str(path))
    except _Refused:
        raise SourceError(f"{path}: the program stores a pickled Python object, which edgebench never unpickles; "
                          "save tensors only (" + PT2_HOWTO + ")") from None
    except Exception as e:
        text = str(e).strip().splitlines()
        first = text[0][:200] if text else ""
        if "weights_only" in str(e) or "Unpickler" in str(e) or "_Refused" in str(e):
            raise SourceError(f"{path}: the program stores a pickled object that is not a tensor; edgebench "
                              "never unpickles such objects") from None
        if "operator" in first.lower() or "op " in first.lower():
            raise SourceError(f"{path}: the program uses an operator this PyTorch does not have ({first})") from None
        raise SourceError(f"{path}: not a loadable torch.export program ({type(e).__name__}: {first})") from None


def _dims(val) -> list[int]:
    return [int(d) if isinstance(d, int) or str(d).isdigit() else -1 for d in val.shape]


def program_module(program, layout: str):
    """The loaded program as the PyTorch exporters take it: its own unlifted module (parameter
    names as the user's model had them, so exported files name their tensors alike), with
    `input_layout` set to the layout it takes. eval()/train() leave its graph alone (an exported
    program is already in the mode it was exported in; torch refuses to switch it), and fresh()
    gives a new copy: a converter that rewrites the graph it is given (litert-torch's layout
    passes do) must not change what the next converter sees."""
    import types

    module = program.module()

    def train(self, mode: bool = True):
        return self

    module.train = types.MethodType(train, module)
    module.eval = types.MethodType(lambda self: self, module)
    module.input_layout = layout
    module.fresh = lambda: program_module(program, layout)
    return module


def open_pt2(path: Path) -> Source:
    import torch

    ep = load_program(path)
    sig = ep.graph_signature
    user_inputs = list(sig.user_inputs)
    name = one(user_inputs, "input", path)
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == name)
    val = node.meta.get("val")
    if val is None or not hasattr(val, "shape"):
        raise SourceError(f"{path}: the program's input '{name}' is not a tensor")
    inp = input_facts(name, _dims(val), str(val.dtype).replace("torch.", ""), path)
    outs = [n for n in ep.graph.nodes if n.op == "output"][0].args[0]
    out_val = one(list(outs), "output", path).meta.get("val")
    fan_ins, params = [], 0
    for key, t in ep.state_dict.items():
        params += int(t.numel())
        if key.endswith("weight") and t.ndim in (2, 4):
            fan_ins.append(int(np.prod(t.shape[1:])))  # (out, in) or (out, in/groups, kh, kw)
    for key, t in ep.constants.items():
        if isinstance(t, torch.Tensor):
            params += int(t.numel())
    facts = {"kind": "pt2", "input": inp,
             "output": {"shape": _dims(out_val), "dtype": str(out_val.dtype).replace("torch.", "")},
             **shape_facts(fan_ins, params), "precision": "float32",
             "versions": {"torch": torch.__version__}}
    model = program_module(ep, "NCHW" if inp["layout"] == "NCHW" else "NHWC")

    def call(x):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    fixed = inp["shape"][0] if inp["shape"][0] > 0 else None
    return Source("pt2", model, facts, channels_last(batched(call, fixed), facts))
