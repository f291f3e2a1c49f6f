"""Serving: export the generator to SavedModel, TFLite and ONNX, and run TFLite models."""
