"""Importers that turn a model file or object into an annotated graph: PyTorch (torch.fx),
ONNX and the planner's own JSON, all building layers through one ``GraphBuilder``. torch
and onnx are imported only inside the importer that needs them, when it is called."""
