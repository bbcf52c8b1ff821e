"""Building blocks for confidence-aware test-time scaling in any LangGraph: the model protocol and the pure maths.

Nothing here imports torch or `catts_graph`.
"""

from nodes.answers import AnswerType, extract_answer, extract_boxed, normalize_answer
from nodes.confidence import (
    bottom_percent_confidence,
    group_confidences,
    lowest_group_confidence,
    probability_confidence,
    response_confidence,
    tail_confidence,
    token_confidence,
    token_confidences,
)
from nodes.errors import CattsError, InvalidImageError, InvalidInputError, ModelError, TransientModelError
from nodes.images import ImageInput, load_image, to_data_url
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob, VisionLanguageModel

__all__ = [
    "AnswerScore",
    "AnswerType",
    "CattsError",
    "ImageInput",
    "InvalidImageError",
    "InvalidInputError",
    "Message",
    "ModelError",
    "Sample",
    "SamplingParams",
    "TokenLogprob",
    "TransientModelError",
    "VisionLanguageModel",
    "bottom_percent_confidence",
    "extract_answer",
    "extract_boxed",
    "group_confidences",
    "load_image",
    "lowest_group_confidence",
    "normalize_answer",
    "probability_confidence",
    "response_confidence",
    "tail_confidence",
    "to_data_url",
    "token_confidence",
    "token_confidences",
]
