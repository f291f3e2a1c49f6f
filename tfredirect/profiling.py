"""FLOP counts and the machine's matmul rate in the training's compute dtype, for honest speed
figures: a bfloat16 run is set against a bfloat16 matmul, a float32 run against a float32 one."""

import time

import tensorflow as tf


def profile_flops(graph, cmd="op"):
    """The TF profiler's float-operation tree of `graph` (`cmd` "op" or "scope"); a
    multiply-add counts as two operations, as in the usual GFLOP figures."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    ).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd=cmd, options=options)


def count_flops(fn, input_signature):
    """Float operations of one call of `fn` traced with `input_signature` (TF profiler)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = tf.function(fn).get_concrete_function(*input_signature)
    return int(profile_flops(convert_variables_to_constants_v2(concrete).graph).total_float_ops)


def redirector_flops(model):
    """FLOPs per redirected image (encode, rotate gaze and head, decode) at batch 1."""
    s = model.image_size
    spec = [
        tf.TensorSpec((1, s, s, 3), tf.float32),
        tf.TensorSpec((1, 2), tf.float32),
        tf.TensorSpec((1, 2), tf.float32),
    ]
    return count_flops(lambda x, g, h: model.redirect(x, target_gaze=g, target_head=h), spec)


def matmul_rate(n=1024, seconds=1.0, dtype="float32"):
    """Measured matmul rate of this machine in FLOP/s for `dtype` (all threads TF uses)."""
    a = tf.cast(tf.random.normal((n, n), seed=1), dtype)
    b = tf.cast(tf.random.normal((n, n), seed=2), dtype)
    mm = tf.function(lambda: tf.matmul(a, b))
    mm().numpy()
    reps, start = 0, time.perf_counter()
    while True:
        out = mm()
        reps += 1
        if time.perf_counter() - start >= seconds:
            out.numpy()
            break
    return 2.0 * n**3 * reps / (time.perf_counter() - start)


def native_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this machine computes bfloat16 natively: a GPU, or a CPU with AVX-512 BF16 or
    AMX (elsewhere XLA emulates it, about 5x slower than float32 on an AVX2-only CPU)."""
    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        with open(cpuinfo) as f:
            flags = {w for line in f if line.startswith("flags") for w in line.split()}
    except OSError:
        return True  # cannot tell: no warning
    return bool(flags & {"avx512_bf16", "amx_bf16"})
