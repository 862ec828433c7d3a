"""runtimes/base.py: channels-last (or flat) data mapped to each artifact's declared input."""

import numpy as np
import pytest

from edgebench.runtimes.base import describe_input, input_layout, to_artifact_input


@pytest.mark.parametrize("shape, layout", [
    ((1, 784), "flat"), ((-1, 784), "flat"), ((None, 784), "flat"),
    ((1, 28, 28, 1), "NHWC"), ((-1, 28, 28, 1), "NHWC"), ((1, 32, 32, 3), "NHWC"), ((1, 16, 16, 3), "NHWC"),
    ((1, 1, 28, 28), "NCHW"), ((1, 3, 32, 32), "NCHW"), (("batch", 3, 16, 16), "NCHW"), ((-1, 3, 16, 16), "NCHW"),
    ((1, 10, 4, 1), "NHWC"),  # a 10x4 spectrogram: not square, stays NHWC
])
def test_layout_from_the_declared_shape(shape, layout):
    assert input_layout(shape) == layout


def _images(n=2, h=4, w=4, c=3):
    return np.arange(n * h * w * c, dtype=np.float32).reshape(n, h, w, c)


def test_same_shape_is_passed_as_is():
    x = _images()
    np.testing.assert_array_equal(to_artifact_input(x, (-1, 4, 4, 3)), x)
    np.testing.assert_array_equal(to_artifact_input(x.reshape(2, -1), (-1, 48)), x.reshape(2, -1))


def test_flat_input_gets_images_flattened_channels_last():
    x = _images()
    np.testing.assert_array_equal(to_artifact_input(x, (1, 48)), x.reshape(2, 48))


def test_nchw_input_gets_images_transposed():
    x = _images()
    want = x.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(to_artifact_input(x, (1, 3, 4, 4)), want)
    # Flat rows: the artifact's (C, H, W) says how to shape them first.
    np.testing.assert_array_equal(to_artifact_input(x.reshape(2, -1), (1, 3, 4, 4)), want)
    assert to_artifact_input(x, (1, 3, 4, 4)).flags["C_CONTIGUOUS"]


def test_flat_rows_and_grey_images_become_nhwc():
    x = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28)
    want = x[..., None]
    np.testing.assert_array_equal(to_artifact_input(x.reshape(2, -1), (-1, 28, 28, 1)), want)
    np.testing.assert_array_equal(to_artifact_input(x, (-1, 28, 28, 1)), want)
    np.testing.assert_array_equal(to_artifact_input(x, (1, 1, 28, 28)), x[:, None])


def test_an_explicit_layout_and_image_shape_settle_ambiguous_cases():
    x = _images(h=3, w=3, c=3)
    np.testing.assert_array_equal(to_artifact_input(x, (1, 3, 3, 3), layout="NCHW"), x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(to_artifact_input(x.reshape(2, -1), (-1, -1, -1, 3), image_shape=(3, 3, 3)), x)
    with pytest.raises(ValueError, match="image_shape"):
        to_artifact_input(x.reshape(2, -1), (-1, -1, -1, 3))


def test_a_misfit_names_both_shapes():
    with pytest.raises(ValueError, match=r"\[4, 4, 3\].*\[1, 5, 5, 3\]"):
        to_artifact_input(_images(), (1, 5, 5, 3))


def test_describe_input():
    assert describe_input((None, 28, 28, 1), "NHWC") == {"shape": [-1, 28, 28, 1], "layout": "NHWC"}
