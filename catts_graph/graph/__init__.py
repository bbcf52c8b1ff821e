"""The assembled CA-TTS graph: `create_catts_graph` (builder), its configuration (config), the sync bridge that lets
`invoke` run the async nodes, the graph as a LangChain tool (`as_tool`), and the app `langgraph dev` serves (app,
loaded from langgraph.json, never imported here). The nodes, the gate and the routing edges come from `nodes`."""

from catts_graph.graph.builder import MODEL_RETRY, CATTSGraph, build_catts_graph, create_catts_graph
from catts_graph.graph.tool import CATTSToolInput, as_tool

__all__ = ["MODEL_RETRY", "CATTSGraph", "CATTSToolInput", "as_tool", "build_catts_graph", "create_catts_graph"]
