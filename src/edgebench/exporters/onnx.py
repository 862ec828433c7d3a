"""ONNX from PyTorch with torch.onnx (dynamo exporter), one self-contained file."""

from __future__ import annotations

from pathlib import Path

from edgebench.config import ModelSpec


def from_torch(model, path: Path, spec: ModelSpec) -> None:
    import torch

    model.eval()
    sample = torch.zeros(2, spec.input_size, dtype=torch.float32)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        model,
        (sample,),
        dynamo=True,
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
        external_data=False,  # weights inside the .onnx, not in a side .onnx.data file
        verbose=False,
    )
    program.save(str(path), external_data=False)
