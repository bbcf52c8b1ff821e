"""Trainers that produce the models catts-graph serves: generic SFT of a vision-language model (sft), the ShapesVQA
recipes built on it and the ShapesVQA CLIP (shapes/), CDRL (confidence-driven GRPO) on TRL (cdrl/), and training
plots (plots).

Depends on `catts_graph` and `nodes`; imports torch and TRL inside the modules and functions that need them.
"""
