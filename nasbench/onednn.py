"""Which CPU kernels torch runs here, and a watch for the one oneDNN kernel that corrupts memory.

torch 2.14.1 bundles a oneDNN whose `brgconv_strided:avx2` kernel writes out of bounds in the
backward pass (backward_data) of a 1x1, stride-2 convolution on channels-last (NHWC) tensors with
few input channels. On a CPU with AVX2 and no AVX-512 (an AMD EPYC, many laptops) oneDNN picks that
kernel, and the process aborts (`corrupted double-linked list`, `munmap_chunk(): invalid
pointer`) or silently computes other numbers. nasbench keeps every convolution away from it
(docs/onednn.md): its data are plain NCHW, and its strided 1x1 convolutions are
`nasbench.ops.GuardedConv2d`. `StridedPointwiseWatch` finds any that slip through, on every CPU.

    python -m nasbench.onednn     # the CPU, torch's CPU capability and the ISA oneDNN runs
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# A conv run with oneDNN's verbose log on: its `info` lines name the ISA oneDNN dispatches to.
_PROBE = ("import torch; c = torch.nn.Conv2d(8, 8, 3); "
          "x = torch.randn(2, 8, 8, 8, requires_grad=True); c(x).sum().backward()")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def onednn_isa(env: dict | None = None) -> str:
    """The instruction set oneDNN dispatches to in a fresh process (honours DNNL_MAX_CPU_ISA)."""
    env = {**os.environ, **(env or {}), "DNNL_VERBOSE": "1", "OMP_NUM_THREADS": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                             text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({type(e).__name__})"
    found = re.search(r"isa:([^,\n]+)", out)
    return found.group(1).strip() if found else "unknown (oneDNN printed no isa line)"


def describe() -> dict[str, str]:
    """What a failure report needs: CPU, torch and the kernels it picks."""
    return {"cpu": cpu_model(), "torch": torch.__version__,
            "torch CPU capability": torch.backends.cpu.get_cpu_capability(),
            "oneDNN (mkldnn) enabled": str(torch.backends.mkldnn.is_available()
                                           and torch.backends.mkldnn.enabled),
            "oneDNN ISA": onednn_isa(),
            "DNNL_MAX_CPU_ISA": os.environ.get("DNNL_MAX_CPU_ISA", "(unset)"),
            "threads": str(torch.get_num_threads())}


def is_strided_pointwise(weight_shape, stride) -> bool:
    """A 1x1 convolution with a stride above 1: the shape of the corrupting oneDNN kernel."""
    return tuple(weight_shape[-2:]) == (1, 1) and any(int(s) > 1 for s in stride)


class StridedPointwiseWatch(TorchDispatchMode):
    """Records every strided 1x1 convolution (forward or backward) that reaches ATen.

        with StridedPointwiseWatch() as watch:
            search.run()
        assert not watch.found, watch.found[:3]
    """

    _CONVS = {torch.ops.aten.convolution.default: (1, 3),            # (weight, stride) positions
              torch.ops.aten.convolution_backward.default: (2, 4)}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        where = self._CONVS.get(func)
        if where is not None:
            weight, stride = args[where[0]], args[where[1]]
            if is_strided_pointwise(weight.shape, stride):
                x = args[0] if func is torch.ops.aten.convolution.default else args[1]
                layout = "channels-last" if x.is_contiguous(memory_format=torch.channels_last) else f"strides {tuple(x.stride())}"
                self.found.append(f"{func.__name__}: weight {tuple(weight.shape)}, stride "
                                  f"{tuple(stride)}, input {tuple(x.shape)} {layout}")
        return func(*args, **(kwargs or {}))


if __name__ == "__main__":
    for key, value in describe().items():
        print(f"{key}: {value}")
