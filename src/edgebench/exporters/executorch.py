"""ExecuTorch .pte from PyTorch, lowered to the XNNPACK delegate. Static batch 1; the input is
the model's own layout (NHWC images for the adapter's models, [1, 784] for the MLP)."""

from __future__ import annotations

from pathlib import Path

from edgebench.exporters import ExportContext


def from_torch(model, path: Path, ctx: ExportContext) -> None:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from edgebench.exporters.tflite import torch_sample

    sample = (torch_sample(model, ctx),)  # static batch 1
    exported = torch.export.export(model.eval(), sample)
    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    Path(path).write_bytes(program.buffer)
