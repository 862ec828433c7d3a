"""Agreement between a source model and its export: one tolerance table, figures not bools."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# int8's logit-error bound is checked on this percentile of the per-image largest error: one worst
# image (an outlier clipped by the calibrated range) must not turn a sound artifact red; the
# largest error is reported beside it as information. float32 and float16 are checked on the largest.
INT8_DIFF_PERCENTILE = 99.9


@dataclass(frozen=True)
class Tolerance:
    max_abs_diff: float | None  # on logits, absolute
    min_agreement: float  # fraction of test images with the same top-1 class
    max_accuracy_drop: float  # in accuracy points / 100 (0.001 = 0.1 point)
    reason: str
    max_diff_of_range: float | None = None  # on logits, as a fraction of the source's logit range
    int8: bool = False  # the bound applies to a high percentile of the per-image error, not the largest

    def to_dict(self) -> dict:
        return {"max_abs_diff": self.max_abs_diff, "max_diff_of_range": self.max_diff_of_range,
                "percentile": INT8_DIFF_PERCENTILE if self.int8 else None,
                "diff_judged_on": "p99_9_abs_diff" if self.int8 else "max_abs_diff",
                "min_agreement": self.min_agreement, "max_accuracy_drop": self.max_accuracy_drop,
                "reason": self.reason}

    def describe(self) -> str:
        diff = (f"max |diff| <= {self.max_abs_diff:g}" if self.max_abs_diff is not None
                else f"max |diff| <= {self.max_diff_of_range:.0%} of the logit range")
        if self.int8:
            diff = diff.replace("max |diff|", f"p{INT8_DIFF_PERCENTILE:g} of per-image max |diff|")
        return f"{diff}, agreement >= {self.min_agreement:.1%}, drop <= {self.max_accuracy_drop * 100:g} pt"


# Agreement and accuracy bars are what users accept, whatever the model; the logit-error bound
# follows from the model (its depth and largest fan-in) and scales with its logit range.
BARS = {"float32": (0.999, 0.001), "float16": (0.998, 0.002), "int8": (0.98, 0.01)}
FLOAT32_FLOOR = 1e-5  # absolute: a model whose logits barely move still gets float32 rounding room


def model_shape(net=None) -> tuple[int, int]:
    """(depth, largest fan-in): weighted layers, and the most terms one output sums. Without a
    network, the lab's MLP (784 -> 64 -> 10: depth 2, fan-in 784)."""
    if net is None:
        return 2, 784
    if hasattr(net, "max_fan_in"):  # a ModelShape: read off a user's model file
        return max(net.weighted_layers, 1), max(net.max_fan_in, 1)
    from edgebench.models.layers import Conv2D, Dense, DepthwiseConv2D

    fan_ins = []
    for n in net.nodes:
        if isinstance(n.layer, Dense):
            fan_ins.append(n.in_shape[0])
        elif isinstance(n.layer, Conv2D):
            fan_ins.append(n.layer.kernel[0] * n.layer.kernel[1] * n.in_shape[2])
        elif isinstance(n.layer, DepthwiseConv2D):
            fan_ins.append(n.layer.kernel[0] * n.layer.kernel[1])
    return len(fan_ins), max(fan_ins)


def tolerance_for(precision: str, net=None) -> Tolerance:
    """The bound on logit error for this precision, derived from the model, as a fraction of the
    source's logit range (so it scales with the logits it bounds)."""
    key = "int8" if precision.startswith("int8") else precision
    if key not in BARS:
        raise KeyError(f"no tolerance for precision '{precision}'; known: {', '.join(BARS)}")
    depth, fan_in = model_shape(net)
    agree, drop = BARS[key]
    if key == "float32":
        # Only summation order differs: each output of a K-term dot product carries rounding of
        # about sqrt(K) float32 units (2^-24) of its scale, and depth layers add up; 16x headroom
        # for correlated rounding in blocked kernels.
        frac = 16 * 2.0 ** -24 * np.sqrt(fan_in) * depth
        why = (f"same float32 graph on another kernel library: only summation order differs. A {fan_in}-term "
               f"dot product rounds by about sqrt({fan_in}) float32 units (2^-24) of its scale, over {depth} "
               f"weighted layers: 16 x 2^-24 x sqrt({fan_in}) x {depth} = {frac:.2e} of the logit range "
               f"(at least {FLOAT32_FLOOR:g}); only near-ties may flip their top-1 class")
    elif key == "float16":
        # Each weight rounded to float16 moves by at most half a unit (2^-11 relative); with
        # independent signs a layer's output moves by about that fraction of its scale, per layer.
        frac = 2 * 2.0 ** -11 * depth
        why = (f"weights rounded to float16 (relative error <= 2^-11) and computed in float32: each of the "
               f"{depth} weighted layers moves its output by about 2^-11 of its scale; 2 x 2^-11 x {depth} = "
               f"{frac:.2%} of the logit range")
    else:
        # 8-bit steps (1/255 of a tensor's range per value) and, for static int8, activations clipped
        # to the calibrated range: the lab's MLP (depth 2) showed outliers at ~6% of its logit range;
        # errors add per layer in quadrature.
        frac = 0.07 * np.sqrt(depth)
        why = (f"8-bit weights (and, for static/full int8, activations): each value carries up to half a step "
               f"(1/510 of its range), and activations outside the calibrated range are clipped, so a rare "
               f"outlier image lands several output steps away (the lab's 2-layer MLP: ~6% of its logit range); "
               f"over {depth} weighted layers, 7% x sqrt({depth}) = {frac:.1%} of the range. The bar that matters "
               "is agreement and the 1-point accuracy budget; the range bound catches a wrong scale or zero "
               f"point, which moves every image's logits by a large part of the range. It is checked on the "
               f"{INT8_DIFF_PERCENTILE:g}th percentile of each image's largest logit error, so that a few outlier "
               "images do not fail a sound artifact; the largest error is reported beside it")
    return Tolerance(max_abs_diff=None, max_diff_of_range=float(frac), min_agreement=agree,
                     max_accuracy_drop=drop, reason=why, int8=key == "int8")


def error_distribution(err: np.ndarray) -> dict:
    """Percentiles of an absolute error over every output value: what a reconstruction or a
    regression is judged by (top-1 agreement means nothing there)."""
    e = np.asarray(err, np.float64).ravel()
    if not e.size:
        return {}
    return {"mean": float(e.mean()), "p50": float(np.percentile(e, 50)), "p90": float(np.percentile(e, 90)),
            "p99": float(np.percentile(e, 99)), "p99_9": float(np.percentile(e, 99.9)), "max": float(e.max()),
            "values": int(e.size)}


def compare(source_logits: np.ndarray, logits: np.ndarray, labels: np.ndarray, precision: str, net=None,
            task: str = "classification", output_step: float | None = None) -> dict:
    """The artifact's outputs against the source's. task="regression": outputs are values, not class
    scores, so top-1 agreement is recorded but not judged, and the error's distribution is given
    (also in the artifact's output quantization steps, output_step, where its output is integer)."""
    if source_logits.shape != logits.shape:
        raise ValueError(f"logit shapes differ: source {source_logits.shape}, artifact {logits.shape}")
    tol = tolerance_for(precision, net)
    diff = np.abs(source_logits.astype(np.float64) - logits.astype(np.float64))
    pred = logits.argmax(axis=1)
    source_pred = source_logits.argmax(axis=1)
    labelled = labels is not None and len(labels) == len(pred)
    source_acc = float(np.mean(source_pred == labels)) if labelled else None
    acc = float(np.mean(pred == labels)) if labelled else None
    agreement = float(np.mean(pred == source_pred))
    max_abs = float(diff.max()) if diff.size else 0.0
    per_image = diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(1)
    p999 = float(np.percentile(per_image, INT8_DIFF_PERCENTILE))
    logit_range = float(source_logits.max() - source_logits.min()) if source_logits.size else 0.0
    bound = tol.max_diff_of_range * logit_range
    if precision == "float32":
        bound = max(bound, FLOAT32_FLOOR)
    judged, judged_name = (p999, f"p{INT8_DIFF_PERCENTILE:g} of the per-image largest logit error") if tol.int8 \
        else (max_abs, "largest logit error")
    failed = []
    if judged > bound:
        failed.append(f"{judged_name} {judged:.3g} > bound {bound:.3g}")
    classes = task != "regression"
    if classes and agreement < tol.min_agreement:
        failed.append(f"top-1 agreement {agreement:.2%} < {tol.min_agreement:.1%}")
    if labelled and source_acc - acc > tol.max_accuracy_drop:
        failed.append(f"accuracy drop {(source_acc - acc) * 100:.2f} pt > {tol.max_accuracy_drop * 100:g} pt")
    return {
        "test_accuracy": acc,
        "source_test_accuracy": source_acc,
        "accuracy_change": acc - source_acc if labelled else None,
        "top1_agreement": agreement,
        "disagreements": int(np.sum(pred != source_pred)),
        "max_abs_diff": max_abs,
        "p99_9_abs_diff": p999,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "source_logit_range": logit_range,
        "tolerance": tol.to_dict(),
        "max_abs_diff_bound": bound,
        "within_tolerance": not failed,
        "tolerance_failures": failed,
        "task": task,
        **({} if classes else {"error_distribution": error_distribution(diff),
                               "error_steps_distribution": error_distribution(diff / output_step) if output_step else None,
                               "note": "outputs are not class scores: top-1 agreement is recorded, not judged"}),
    }


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy from logits, computed the same way (float64) for every framework's outputs."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(logsumexp - z[np.arange(len(labels)), labels]))
