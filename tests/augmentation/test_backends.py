"""tfredirect.augmentation.backends: the TFLite backend gives the Keras backend's copies (from the
known source labels), here written in the ETH-XGaze layout."""

import os

import h5py
import numpy as np
import pytest

from aug_helpers import COUNTS, N, expected
from tfredirect import augmentation
from tfredirect.augmentation import LiteBackend, TargetSampler
from tfredirect.data import sources


@pytest.fixture(scope="module")
def lite_file(tiny_redirector, tmp_path_factory):
    from tfredirect.serving import export_lib

    out = str(tmp_path_factory.mktemp("export") / "tiny")
    return export_lib.export(tiny_redirector, out, formats="tflite", quantize="none")["tflite_none"]


@pytest.mark.slow  # a TFLite conversion
def test_tflite_backend_and_xgaze_layout(lite_file, backend, data, tmp_path):
    from tfredirect.lite import LiteRedirector

    _, index = data
    lite = LiteBackend(LiteRedirector(lite_file, num_threads=2))
    assert lite.image_size == 32 and lite.identity.startswith("tflite:")
    sampler = TargetSampler(kind="mixed", seed=7)
    out = tmp_path / "xgaze"
    info = augmentation.augment(index, lite, out, 2, sampler, layout="xgaze", chunk=6)
    assert info["complete"] and info["persons"] == 3
    assert sorted(os.listdir(out)) == ["augmentation.json", *[f"{p}.h5" for p in COUNTS]]
    back = sources.build_index("xgaze", str(out))
    assert len(back) == 2 * N and set(back.persons) == set(COUNTS)
    src, copy = [], []
    for name in sorted(n for n in os.listdir(out) if n.endswith(".h5")):
        with h5py.File(out / name, "r") as f:
            src.append(f["source_index"][()])
            copy.append(f["copy"][()])
            assert f["face_patch"].shape[1:] == (32, 32, 3)
    src, copy = np.concatenate(src), np.concatenate(copy)  # same file order as the index
    order = np.lexsort((copy, src))
    kinds, tg, th = expected(sampler, index, 2)
    assert np.array_equal(back.gaze[order], tg) and np.array_equal(back.head[order], th)
    assert np.array_equal(np.array(back.persons)[back.person[order]],
                          np.array(index.persons)[index.person[src[order]]])
    # pixels come back RGB and are the TFLite model's redirection of their source
    s = src[order]
    direct = lite(index.read(s, 32), index.gaze[s], index.head[s], tg, th, kinds)
    assert np.abs(direct.astype(int) - back.read(order, 32)).max() <= 1
    # from the known source labels (signature redirect_labeled), as the Keras backend does
    keras_out = backend(index.read(s, 32), index.gaze[s], index.head[s], tg, th, kinds)
    assert np.abs(direct.astype(int) - keras_out.astype(int)).max() <= 1
