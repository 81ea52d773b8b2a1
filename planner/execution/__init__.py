"""Executing a graph in numpy: one vectorized kernel per op kind, the executor that runs a
graph (or the part downstream of a layer), and activations fake-quantized at a dtype."""

from planner.execution.executor import (
    Execution,
    at_batch,
    calibration_inputs,
    downstream,
    execute,
    input_arrays,
    run_layer,
    runnable_layers,
)
from planner.execution.fake_quant import (
    ACTIVATION_BITS,
    act_bits,
    activation_scale,
    fake_quant,
)
from planner.execution.kernels import KERNELS, KernelError

__all__ = [
    "ACTIVATION_BITS",
    "KERNELS",
    "Execution",
    "KernelError",
    "act_bits",
    "activation_scale",
    "at_batch",
    "calibration_inputs",
    "downstream",
    "execute",
    "fake_quant",
    "input_arrays",
    "run_layer",
    "runnable_layers",
]
