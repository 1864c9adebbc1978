"""What this host has: CPU cores, frequency and memory (psutil) and NVIDIA GPUs (nvidia-ml-py)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_mb: float


@dataclass(frozen=True)
class HostInfo:
    """The host's hardware as psutil and NVML report it."""

    cpu_model: str
    physical_cores: int
    logical_cores: int
    usable_cores: int  # cores this process may run on (affinity / container limits)
    max_mhz: float | None
    memory_mb: float
    available_mb: float
    gpus: list[GpuInfo] = field(default_factory=list)
    gpu_note: str = ""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _usable_cores() -> int:
    try:
        return len(psutil.Process().cpu_affinity())
    except (AttributeError, NotImplementedError, psutil.Error):
        return psutil.cpu_count(logical=True) or 1


def nvidia_gpus() -> tuple[list[GpuInfo], str]:
    """GPUs through NVML, or an empty list and a one-line reason (no driver, no library)."""
    try:
        import pynvml
    except ImportError:
        return [], "no NVIDIA GPU: nvidia-ml-py (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [], f"no NVIDIA GPU: NVML unavailable ({exc})"
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20
            gpus.append(GpuInfo(i, name.decode() if isinstance(name, bytes) else name, memory))
        return gpus, "" if gpus else "no NVIDIA GPU: NVML reports no devices"
    finally:
        pynvml.nvmlShutdown()


def host_info() -> HostInfo:
    freq = psutil.cpu_freq()
    memory = psutil.virtual_memory()
    gpus, note = nvidia_gpus()
    return HostInfo(cpu_model=_cpu_model(),
                    physical_cores=psutil.cpu_count(logical=False) or 1,
                    logical_cores=psutil.cpu_count(logical=True) or 1,
                    usable_cores=_usable_cores(),
                    max_mhz=(freq.max or freq.current) if freq else None,
                    memory_mb=memory.total / 2**20, available_mb=memory.available / 2**20,
                    gpus=gpus, gpu_note=note)
