"""A loopback OpenAI-compatible chat endpoint for tests of the model-written answers."""

from .server import BEHAVIOURS, ChatRequest, LLMStandIn, best_ids

__all__ = ["BEHAVIOURS", "ChatRequest", "LLMStandIn", "best_ids"]
