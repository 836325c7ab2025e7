"""The machine a benchmark ran on: CPU model, cores, library versions, CUDA device."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else the platform's processor name."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), which a container may limit below os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def describe() -> dict:
    """Everything a reader needs to compare numbers across machines."""
    import numpy as np
    import torch
    import zmq

    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,  # other work sharing the cores
    }


def one_line(hw: dict) -> str:
    gpu = hw["cuda_device"] or "no CUDA device"
    load = f", load average {hw['load_average_1min']:.1f}" if hw["load_average_1min"] is not None else ""
    return (f"{hw['cpu']}, {hw['cores']} cores (torch threads {hw['torch_threads']}), {gpu}; "
            f"torch {hw['torch']}, libzmq {hw['libzmq']}, Python {hw['python']}{load}")
