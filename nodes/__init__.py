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
from nodes.config import stage_from_context, with_overrides
from nodes.critic import CriticNode
from nodes.errors import (
    CattsError,
    ExpertUnavailableError,
    InvalidImageError,
    InvalidInputError,
    ModelError,
    TransientModelError,
)
from nodes.expert import BaseModelExpert, ChatModelExpert, Expert, ExpertReply, as_expert, with_retries
from nodes.images import ImageInput, load_image, to_data_url
from nodes.planner import PlannerNode
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob, VisionLanguageModel
from nodes.sample import SampleNode
from nodes.self_check import SelfCheckNode
from nodes.state import CATTSInput, CATTSOutput, CATTSState
from nodes.vote import VoteNode

__all__ = [
    "AnswerScore",
    "AnswerType",
    "BaseModelExpert",
    "CATTSInput",
    "CATTSOutput",
    "CATTSState",
    "CattsError",
    "ChatModelExpert",
    "CriticNode",
    "Expert",
    "ExpertReply",
    "ExpertUnavailableError",
    "ImageInput",
    "InvalidImageError",
    "InvalidInputError",
    "Message",
    "ModelError",
    "PlannerNode",
    "Sample",
    "SampleNode",
    "SamplingParams",
    "SelfCheckNode",
    "TokenLogprob",
    "TransientModelError",
    "VisionLanguageModel",
    "VoteNode",
    "as_expert",
    "bottom_percent_confidence",
    "extract_answer",
    "extract_boxed",
    "group_confidences",
    "load_image",
    "lowest_group_confidence",
    "normalize_answer",
    "probability_confidence",
    "response_confidence",
    "stage_from_context",
    "tail_confidence",
    "to_data_url",
    "token_confidence",
    "token_confidences",
    "with_overrides",
    "with_retries",
]
