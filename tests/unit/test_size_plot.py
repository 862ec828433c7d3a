"""The size-vs-accuracy plot stays readable where artifacts share a spot (every float32 file of a
model has the same size and accuracy): no two labels on the plot overlap, and every artifact is
named in the legend."""

import copy

from edgebench.report.plots import size_vs_accuracy_figure
from edgebench.report.view import build
from tests.unit.test_report import _results, typed


def _overlaps(a, b) -> bool:
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


def test_labels_do_not_collide_where_artifacts_share_a_spot():
    r = _results()
    base = r["artifacts"][0]
    arts = []
    for fw in ("tensorflow", "pytorch", "jax"):
        for fmt in ("tflite", "onnx", "executorch"):  # same size and accuracy: one spot
            arts.append(dict(copy.deepcopy(base), framework=fw, format=fmt, file=f"{fw}/model.{fmt}"))
        arts.append(dict(copy.deepcopy(base), framework=fw, precision="int8", size_bytes=60_000 + len(arts),
                         test_accuracy=0.97 - 0.0001 * len(arts), file=f"{fw}/model_int8.tflite"))
    r["artifacts"] = arts
    fig = size_vs_accuracy_figure(build(typed(r)))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 4  # one label for the shared float32 spot, one per int8 file
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlaps(a, b), (a, b)
    assert any(t.get_text() == "1,2,3,5,6,7,9,10,11" for t in ax.texts)
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(names) == len(arts) and names[0].startswith("1  ")
