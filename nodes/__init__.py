"""Building blocks for confidence-aware test-time scaling in any LangGraph: the stage nodes, the gate, stage configs,
typed stream events, the model protocol and the pure maths.

Everything CA-TTS needs to run in your own `StateGraph` is here (`catts_graph.create_catts_graph` is one assembly):

    builder = StateGraph(CATTSState, context_schema=CATTSContext, input_schema=CATTSInput, output_schema=CATTSOutput)
    builder.add_node("prepare", Prepare(modules=["critic"], config=config))
    builder.add_node("sample", SampleNode(model, sampling=config.sampling, vote=config.vote, routing=config.routing))
    builder.add_node("vote", VoteNode(expert, config=config.vote))
    builder.add_node("gate", GateNode(modules=["critic"], config=config))
    builder.add_node("critic", CriticNode(model, expert, config=config.critic))
    builder.add_node(FINALIZE, finalize)
    ... START -> prepare -> sample -> vote -> gate; critic -> gate;
    builder.add_conditional_edges("gate", next_module, {"critic": "critic", FINALIZE: FINALIZE}); finalize -> END

Node constructors take their collaborators (model, expert) positionally and their options keyword-only.
Nothing here imports torch or `catts_graph`.
"""

from nodes.answers import AnswerType, extract_answer, extract_boxed, normalize_answer
from nodes.common import emit
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
from nodes.config import (
    CATTSConfig,
    CriticConfig,
    Gate,
    NoiseConfig,
    PlannerConfig,
    RoutingConfig,
    SamplingConfig,
    SelfCheckConfig,
    VoteConfig,
)
from nodes.critic import CriticNode
from nodes.errors import (
    CattsError,
    ExpertUnavailableError,
    InvalidImageError,
    InvalidInputError,
    ModelError,
    TransientModelError,
)
from nodes.events import FinalEvent, RouteEvent, SamplesEvent, SettingsEvent, StreamEvent, VotesEvent, VoteSummary
from nodes.expert import BaseModelExpert, ChatModelExpert, Expert, ExpertReply, as_expert, with_retries
from nodes.images import ImageInput, load_image, to_data_url
from nodes.inputs import validate_input
from nodes.planner import PlannerNode
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob, VisionLanguageModel
from nodes.routing import FINALIZE, OPTIONAL_STAGES, GateNode, Prepare, finalize, next_module
from nodes.run_context import CATTSContext, catts_overrides, run_settings, stage_from_context, with_overrides
from nodes.sample import SampleNode
from nodes.self_check import SelfCheckNode
from nodes.state import CATTSInput, CATTSOutput, CATTSState, RouteRecord, SampleRecord, Usage, VoteContribution
from nodes.vote import VoteNode

__all__ = [
    "FINALIZE",
    "OPTIONAL_STAGES",
    "AnswerScore",
    "AnswerType",
    "BaseModelExpert",
    "CATTSConfig",
    "CATTSContext",
    "CATTSInput",
    "CATTSOutput",
    "CATTSState",
    "CattsError",
    "ChatModelExpert",
    "CriticConfig",
    "CriticNode",
    "Expert",
    "ExpertReply",
    "ExpertUnavailableError",
    "FinalEvent",
    "Gate",
    "GateNode",
    "ImageInput",
    "InvalidImageError",
    "InvalidInputError",
    "Message",
    "ModelError",
    "NoiseConfig",
    "PlannerConfig",
    "PlannerNode",
    "Prepare",
    "RouteEvent",
    "RouteRecord",
    "RoutingConfig",
    "Sample",
    "SampleNode",
    "SampleRecord",
    "SamplesEvent",
    "SamplingConfig",
    "SamplingParams",
    "SelfCheckConfig",
    "SelfCheckNode",
    "SettingsEvent",
    "StreamEvent",
    "TokenLogprob",
    "TransientModelError",
    "Usage",
    "VisionLanguageModel",
    "VoteConfig",
    "VoteContribution",
    "VoteNode",
    "VoteSummary",
    "VotesEvent",
    "as_expert",
    "bottom_percent_confidence",
    "catts_overrides",
    "emit",
    "extract_answer",
    "extract_boxed",
    "finalize",
    "group_confidences",
    "load_image",
    "lowest_group_confidence",
    "next_module",
    "normalize_answer",
    "probability_confidence",
    "response_confidence",
    "run_settings",
    "stage_from_context",
    "tail_confidence",
    "to_data_url",
    "token_confidence",
    "token_confidences",
    "validate_input",
    "with_overrides",
    "with_retries",
]
