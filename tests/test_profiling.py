"""profiling: whether the machine computes bfloat16 natively, read from the CPU's flags."""

import pytest

from tfredirect import profiling


@pytest.mark.parametrize("flags, native", [
    ("fpu avx2 fma avx512f avx512_bf16", True),
    ("fpu avx2 amx_bf16 amx_tile", True),
    ("fpu avx2 fma avx512f avx512bw", False),
])
def test_native_bfloat16_reads_the_cpu_flags(tmp_path, monkeypatch, flags, native):
    monkeypatch.setattr(profiling.tf.config, "list_physical_devices", lambda kind=None: [])
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert profiling.native_bfloat16(str(info)) is native
    assert profiling.native_bfloat16(str(tmp_path / "missing")) is True  # cannot tell: no warning
