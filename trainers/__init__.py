"""Trainers that produce the models catts-graph serves: SFT of the small ShapesVQA models and CDRL (GRPO).

Depends on `catts_graph` and `nodes`; imports torch and TRL inside the functions that need them.
"""
