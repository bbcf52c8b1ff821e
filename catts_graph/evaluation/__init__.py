"""`catts eval` and the other measurements: the evaluation harness (shared samples, every method at every N), the
methods it compares (the expert alone among them), compute (parameters x tokens per model), the results folder,
metrics, the report, calibration of the module weights, the LLM answer judge,
RH-AUC, the perceptual-bluntness probe, the throughput bench, and plots (matplotlib, when installed)."""
