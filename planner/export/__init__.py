"""A plan as a runnable model file: ONNX written from the compressed graph
(:func:`export`), run and timed by onnxruntime (:func:`run_onnx`, :func:`measure`)."""

from planner.export.check import ExportCheck, ExportedLayer, ExportedOutput, check_export
from planner.export.onnx_macs import onnx_macs
from planner.export.runtime import Measurement, NodeTime, RuntimeFailure, measure, run_onnx
from planner.export.to_onnx import ExportError, ExportResult, activation_scales, export

__all__ = [
    "ExportCheck",
    "ExportError",
    "ExportResult",
    "ExportedLayer",
    "ExportedOutput",
    "Measurement",
    "NodeTime",
    "RuntimeFailure",
    "activation_scales",
    "check_export",
    "export",
    "measure",
    "onnx_macs",
    "run_onnx",
]
