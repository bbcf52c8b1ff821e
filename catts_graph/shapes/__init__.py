"""The synthetic ShapesVQA world (world), the tiny Qwen2.5-VL the project builds (tiny_vlm, imports torch when
used), and the models bundled in `models/` with the code that serves them on loopback (bundled)."""
