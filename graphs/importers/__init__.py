"""Importers that turn a model file or object into an annotated graph: PyTorch (torch.fx,
or torch's ONNX export where fx cannot trace: ``torch_via_onnx``; models named as text:
``torch_source``), ONNX (shapes inference cannot give observed by onnxruntime:
``onnx_observed``) and the planner's own JSON, all building layers through one
``GraphBuilder``. torch, onnx and onnxruntime are imported only inside the importer that
needs them, when it is called."""
