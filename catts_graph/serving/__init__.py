"""Serving: the vLLM client and its wire formats, the managed vLLM server process, OpenAI-compatible chat models
for the expert and the judge, parameter counts of served models, and the in-process transformers engine (imports torch
when used)."""
