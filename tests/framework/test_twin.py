"""Twin training: the same initial weights and batches through TensorFlow, PyTorch and JAX, each
in its own child process exactly as `edgebench run` trains them, then every pair compared."""

from itertools import combinations

import numpy as np
import pytest

from edgebench.config import ModelSpec, OptimizerSpec, RunConfig
from edgebench.models import weights as init
from edgebench.pipeline import Run
from tests.conftest import needs_jax, needs_tf, needs_torch

pytestmark = [pytest.mark.framework, needs_tf, needs_torch, needs_jax]
FRAMEWORKS = ("tensorflow", "pytorch", "jax")

STEPS, BATCH = 20, 64


def twin(tmp_path, name: str, opt: OptimizerSpec, model: str = "mlp", frameworks=FRAMEWORKS, steps=STEPS):
    """Per pair of frameworks: (all abs weight differences, max abs logit difference)."""
    cfg = RunConfig(frameworks=frameworks, optimizer=opt, epochs=1, batch_size=BATCH,
                    limit_train=steps * BATCH, limit_test=1000, formats=(), threads=1, repeats=1,
                    model=ModelSpec(name=model), out=tmp_path / name)
    # Only the trainings: no GEMM peak, timing summary, twin report or plots (compared here instead).
    r = Run(cfg, select=lambda job: job.kind == "train").execute()  # no writer: results.json only
    assert [t.status for t in r.trainings] == ["ok"] * len(frameworks), r.trainings
    run = tmp_path / name
    weights = {fw: init.load(run / fw / "final_weights.npz") for fw in frameworks}
    logits = {fw: np.load(run / fw / "test_logits.npy") for fw in frameworks}
    start = init.load(run / "inputs" / "initial_weights.npz")

    def flat(w):  # every array, BatchNorm's running statistics included
        return np.concatenate([w[layer][k].ravel() for layer in sorted(w) for k in sorted(w[layer])])

    moved = min(float(np.abs(flat(weights[fw]) - flat(start)).max()) for fw in frameworks)
    pairs = {}
    for f1, f2 in combinations(frameworks, 2):
        pairs[(f1, f2)] = (np.abs(flat(weights[f1]) - flat(weights[f2])),
                           float(np.abs(logits[f1] - logits[f2]).max()))
    return pairs, moved


@pytest.mark.parametrize("model, steps", [("mlp", STEPS), ("lenet5", STEPS), ("dscnn", 1), ("resnet8", 1)])
def test_sgd_twins_agree_to_1e_5_and_tensorflow_batchnorm_to_5e_5(tmp_path, model, steps):
    """Every pair of TensorFlow, PyTorch, JAX and the NumPy reference, from the same weights and
    batches, within 1e-5; TensorFlow's pairs on the BatchNorm networks within 5e-5 (why: the comment
    in the loop). Plain SGD is linear in the gradient: only float32 summation order
    differs between the frameworks' kernels (mlp and lenet5 seen at ~3e-8 after 20 steps).
    The BatchNorm networks are checked after one step: trained in float32 they are chaotic
    (rounding-level differences grow ~20x a step through the normalisation and ReLUs near zero;
    at lr 0.05 PyTorch in float64 ends as far from PyTorch in float32 after 20 steps as the other
    frameworks do: dscnn 0.1, resnet8 0.03; at lr 0.01 the frameworks end 0.03-0.06 apart on
    dscnn), so no framework pair, nor one framework against itself in another precision, agrees
    to 1e-5 after 20 steps."""
    pairs, moved = twin(tmp_path, f"sgd-{model}", OptimizerSpec(name="sgd", learning_rate=0.01), model,
                        FRAMEWORKS + ("numpy",), steps=steps)
    assert moved > (1e-3 if steps > 1 else 1e-5)  # the weights really trained
    batchnorm = model in ("dscnn", "resnet8")
    for pair, (diff, logit_diff) in pairs.items():
        # TensorFlow normalises as x*inv + (beta - mean*inv) (tf.nn.batch_normalization), which
        # cancels when a channel's mean is large against its spread: its training-mode BatchNorm
        # output carries ~10x the rounding of PyTorch's, JAX's or the reference's (7.1e-6 against
        # 6.9e-7 on a 64x14x14x64 activation with mean 0.3 and std 0.05), so after one step on
        # the BatchNorm networks its pairs land above 1e-5 (seen: dscnn 1.23e-5, on a running
        # variance of 1.2 and on conv1's kernel; resnet8 2.69e-5); every other pair stays within
        # 1e-5 (dscnn 1.6e-6 to 5.8e-6, resnet8 1.2e-7). 5e-5 is that largest seen (2.69e-5) with
        # under 2x of margin: it is TensorFlow's formula, not a bound widened until the test passed,
        # and a real difference in the update rule (one step moves weights by ~1e-3) stays far above.
        bound = 5e-5 if batchnorm and "tensorflow" in pair else 1e-5
        assert diff.max() <= bound, f"SGD twin {model} {pair}: max abs weight difference {diff.max():.3g}"
        assert logit_diff <= 1e-4, pair


def test_adam_twin(tmp_path):
    lr = 1e-3
    aligned, moved = twin(tmp_path, "adam-aligned", OptimizerSpec(learning_rate=lr))
    native, _ = twin(tmp_path, "adam-native", OptimizerSpec(learning_rate=lr, epsilon_placement="native"))
    assert moved > 5 * lr
    # Adam divides each update by sqrt(v_hat), so a weight whose gradient is at float32
    # rounding level (a cancelling batch sum) moves by about +-lr per step whatever the sign
    # rounding gave it: no tolerance below lr can hold for every weight. What the analysis
    # does bound: (1) no weight can drift more than 2*lr per step; (2) weights with gradients
    # well above rounding follow the same rule as under SGD, so nearly all of them agree to
    # 1e-5 (seen TF/PyTorch: 99.89% aligned, 96.0% native; max 1.7e-3 aligned, 8.2e-3 native).
    for pair, (diff, logit_diff) in aligned.items():
        assert diff.max() <= 2 * lr * STEPS, pair
        assert np.mean(diff <= 1e-5) >= 0.995, f"{pair}: only {np.mean(diff <= 1e-5):.4%} of weights within 1e-5"
        assert logit_diff <= 5e-3, f"{pair}: aligned Adam logits differ by {logit_diff:.3g}"
    # Keras adds epsilon before the bias correction, PyTorch and Optax after: aligning that is
    # what makes TensorFlow agree with the other two. PyTorch and Optax share their native rule.
    for pair in (("tensorflow", "pytorch"), ("tensorflow", "jax")):
        n_native, n_aligned = np.sum(native[pair][0] > 1e-4), np.sum(aligned[pair][0] > 1e-4)
        assert n_native > 5 * max(1, n_aligned), (pair, n_native, n_aligned)
        assert native[pair][1] > aligned[pair][1]
    assert np.mean(native[("pytorch", "jax")][0] <= 1e-5) >= 0.995
